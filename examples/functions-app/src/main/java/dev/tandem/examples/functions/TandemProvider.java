package dev.tandem.examples.functions;

import dev.tandem.azure.functions.TandemFunctions;
import dev.tandem.azure.functions.TandemFunctionsProvider;

/** Registered in META-INF/services: Tandem is configured at the first protected call. */
public final class TandemProvider implements TandemFunctionsProvider {

  @Override
  public TandemFunctions.Builder configure() {
    return TandemApp.get().functions();
  }
}

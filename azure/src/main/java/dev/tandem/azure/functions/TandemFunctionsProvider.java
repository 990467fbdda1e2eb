package dev.tandem.azure.functions;

/**
 * Lets a function app configure Tandem without code on its call path: the worker may invoke the
 * middleware before any class of the app has run. Register an implementation in {@code
 * META-INF/services/dev.tandem.azure.functions.TandemFunctionsProvider}; the first {@link
 * TandemFunctions#installed()} call (the first protected invocation) loads it and installs what it
 * returns.
 */
public interface TandemFunctionsProvider {

  /**
   * The configuration to install (a builder with at least the processor and the shard count), or
   * null when this provider has nothing to install.
   */
  TandemFunctions.Builder configure();
}

package dev.tandem.testkit.junit;

import dev.tandem.testkit.KafkaRegion;
import dev.tandem.testkit.TwoRegions;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestInstancePostProcessor;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The JUnit Jupiter extension behind {@link TandemClusters} (use the annotation; see its Javadoc for an
 * example and the rules of shared regions).
 *
 * <p>Shared regions live in the ROOT extension-context store: started by the first class that asks,
 * closed by JUnit when the whole test run of this JVM ends (the store closes {@link AutoCloseable}
 * values). Regions of a {@code shared = false} class live in that class's store and are closed after
 * its last test.
 */
public final class TwoRegionsExtension
    implements BeforeAllCallback, TestInstancePostProcessor, ParameterResolver {

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(TwoRegionsExtension.class);
  /** The JVM-wide pair, in the root store. */
  private static final String SHARED = "shared-two-regions";
  /**
   * A class's own pair, in its store; a different key from {@link #SHARED} because a store lookup
   * falls back to the parent stores (up to the root).
   */
  private static final String OWN = "own-two-regions";

  @Override
  public void beforeAll(ExtensionContext context) {
    TwoRegions regions = regions(context);
    for (Field field : fields(context.getRequiredTestClass())) {
      if (Modifier.isStatic(field.getModifiers())) {
        inject(field, null, regions);
      }
    }
  }

  @Override
  public void postProcessTestInstance(Object testInstance, ExtensionContext context) {
    TwoRegions regions = regions(context);
    for (Field field : fields(testInstance.getClass())) {
      if (!Modifier.isStatic(field.getModifiers())) {
        inject(field, testInstance, regions);
      }
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == TwoRegions.class
        || (type == String.class && parameter.isAnnotated(FreshTopic.class));
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    if (type == TwoRegions.class) {
      return regions(context);
    }
    String base = parameter.findAnnotation(FreshTopic.class).map(FreshTopic::value).orElse("");
    if (base.isEmpty()) {
      base = context.getTestMethod().map(m -> m.getName())
          .orElseGet(() -> context.getRequiredTestClass().getSimpleName());
    }
    return Topics.fresh(base);
  }

  /** The regions of this context's test class: the JVM-wide pair or the class's own. */
  // Store.getOrComputeIfAbsent is deprecated since JUnit 6.0 in favour of computeIfAbsent, which
  // JUnit 5 does not have: kept so the extension uses only API that JUnit 5.x also has (a user's
  // junit-bom 5.x wins over the 6.x this module is built against).
  @SuppressWarnings("deprecation")
  private static TwoRegions regions(ExtensionContext context) {
    Class<?> testClass = context.getRequiredTestClass();
    TandemClusters settings = settings(testClass);
    boolean shared = settings.shared() && settings.securityB() == KafkaRegion.Security.PLAINTEXT;
    if (shared) {
      return context.getRoot().getStore(NAMESPACE)
          .getOrComputeIfAbsent(SHARED, k -> TwoRegions.start(), TwoRegions.class);
    }
    // the class's own pair: stored in the CLASS context (also when asked from a test method's),
    // so it is closed once, after the class
    ExtensionContext classContext = context;
    while (classContext.getTestMethod().isPresent()) {
      classContext = classContext.getParent().orElseThrow();
    }
    return classContext.getStore(NAMESPACE).getOrComputeIfAbsent(
        OWN + ":" + classContext.getUniqueId(),
        k -> TwoRegions.start("region-a", KafkaRegion.Security.PLAINTEXT, "region-b",
            settings.securityB()), TwoRegions.class);
  }

  /** The class's {@code @TandemClusters}, or its enclosing class's (a {@code @Nested} class). */
  private static TandemClusters settings(Class<?> testClass) {
    for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
      var found = AnnotationSupport.findAnnotation(c, TandemClusters.class);
      if (found.isPresent()) {
        return found.get();
      }
    }
    throw new ExtensionConfigurationException(
        testClass.getName() + " uses TwoRegionsExtension without @TandemClusters");
  }

  private static java.util.List<Field> fields(Class<?> testClass) {
    return org.junit.platform.commons.support.ReflectionSupport.findFields(testClass, f -> f.getType() == TwoRegions.class,
        org.junit.platform.commons.support.HierarchyTraversalMode.TOP_DOWN);
  }

  private static void inject(Field field, Object target, TwoRegions regions) {
    if (Modifier.isFinal(field.getModifiers())) {
      throw new ExtensionConfigurationException(
          "@TandemClusters cannot inject the final field " + field);
    }
    try {
      field.setAccessible(true);
      if (field.get(target) == null) {
        field.set(target, regions);
      }
    } catch (IllegalAccessException e) {
      throw new ExtensionConfigurationException("@TandemClusters cannot inject " + field, e);
    }
  }
}

package dev.tandem.testkit.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a {@code String} parameter of a test in a {@link TandemClusters} class: a topic name no other
 * test in this JVM has been given ({@link Topics#fresh(String)} of {@link #value()}, or of the test
 * method's name when empty). The topic is not created; call {@code regions.createTopic(topic, n)}.
 */
@Target(ElementType.PARAMETER)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface FreshTopic {

  /** The readable start of the name; empty: the test method's name. */
  String value() default "";
}

/**
 * The consumer side of the Spring Boot starter: {@link dev.tandem.spring.kafka.TandemListenerContainers}
 * installs the Tandem guarantee on a Spring Kafka listener container factory.
 */
package dev.tandem.spring.kafka;

/**
 * Tandem for Spring Boot: auto-configuration that gives {@code @KafkaListener} methods the full Tandem
 * guarantee and makes {@code KafkaTemplate} publish to both regions. See the module's README.md.
 */
package dev.tandem.spring;

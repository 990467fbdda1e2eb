package dev.tandem.azure.functions;

import java.util.Map;

/**
 * One Kafka record as the Azure Functions Kafka trigger hands it to a Java function declared with
 * {@code dataType = "string"}: a JSON object with {@code Offset}, {@code Partition}, {@code Topic},
 * {@code Timestamp}, {@code Key}, {@code Value} and {@code Headers} (each {@code {Key, Value}}, the
 * value base64-encoded), decoded by {@link TriggerHeaders#kafkaEvent(String)}.
 *
 * @param topic the topic
 * @param partition the partition
 * @param offset the offset
 * @param timestamp the record timestamp as the extension formats it
 * @param key the record key, or null
 * @param value the record value as text, or null
 * @param headers the record headers, decoded from base64 to UTF-8 text; the last one wins for a name
 *     that repeats
 */
public record KafkaTriggerEvent(String topic, int partition, long offset, String timestamp,
    String key, String value, Map<String, String> headers) {

  public KafkaTriggerEvent {
    headers = Map.copyOf(headers);
  }

  /** The header {@code name}, or null. */
  public String header(String name) {
    return headers.get(name);
  }
}

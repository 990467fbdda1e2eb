package dev.tandem.azure.functions;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Reads the Tandem envelope's headers ({@code tandem-id}, ...) from what an Azure Functions trigger
 * gives a Java function, as the header getter {@link dev.tandem.core.EnvelopeCodec#read} takes.
 *
 * <p>Where the envelope is, per trigger:
 *
 * <ul>
 *   <li>Service Bus: in the message's application properties, which the function receives only if
 *       it declares them: {@code @BindingName("ApplicationProperties") Map<String, Object>
 *       properties} (or {@code String} for the JSON text). See {@link #serviceBus(Object)}.
 *   <li>Event Hubs: in the event's properties, {@code @BindingName("Properties")}; see {@link
 *       #eventHubs(Object)}.
 *   <li>Kafka: in the record headers, which the Kafka trigger includes in the event JSON when the
 *       trigger parameter is declared with {@code dataType = "string"}; see {@link #kafkaEvent}.
 * </ul>
 *
 * <p>Worker limit (azure-functions-java-worker, checked on its source): a worker middleware sees,
 * through {@code MiddlewareContext.getParameterValue}, only the input bindings whose data is a
 * string, never the trigger metadata. So a middleware can read the Kafka trigger's event JSON (it is
 * the trigger's string input), but not Service Bus application properties or Event Hubs properties:
 * for those the function passes its declared metadata parameter to Tandem itself.
 *
 * <p>A missing metadata parameter fails clearly, naming the declaration that is missing.
 */
public final class TriggerHeaders {

  private static final ObjectMapper JSON = new ObjectMapper();

  private TriggerHeaders() {}

  /**
   * The header getter over a Service Bus trigger's {@code ApplicationProperties} metadata: the map
   * the worker binds, or its JSON text.
   *
   * @throws IllegalArgumentException when {@code applicationProperties} is null (the function did
   *     not declare it) or is neither a map nor a JSON object
   */
  public static Function<String, String> serviceBus(Object applicationProperties) {
    return metadataGetter(applicationProperties, "ApplicationProperties",
        "@BindingName(\"ApplicationProperties\") Map<String, Object> applicationProperties");
  }

  /**
   * A Service Bus trigger's {@code ApplicationProperties} metadata as a map of values (JSON text is
   * parsed: strings, numbers, booleans, nulls), e.g. to copy them onto another message.
   *
   * @throws IllegalArgumentException as {@link #serviceBus(Object)}
   */
  static Map<String, Object> serviceBusProperties(Object applicationProperties) {
    String declaration =
        "@BindingName(\"ApplicationProperties\") Map<String, Object> applicationProperties";
    if (applicationProperties == null) {
      throw new IllegalArgumentException("the trigger metadata 'ApplicationProperties' is missing: "
          + "a Tandem-protected function must declare it, e.g. " + declaration);
    }
    Map<String, Object> values = new HashMap<>();
    if (applicationProperties instanceof Map<?, ?> map) {
      map.forEach((k, v) -> values.put(String.valueOf(k), v));
    } else if (applicationProperties instanceof CharSequence text) {
      JsonNode root = parse(text.toString(), "the trigger metadata 'ApplicationProperties'");
      if (!root.isObject()) {
        throw new IllegalArgumentException("the trigger metadata 'ApplicationProperties' is not a "
            + "JSON object but " + root.getNodeType());
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        JsonNode v = e.getValue();
        values.put(e.getKey(), v.isNull() ? null : v.isNumber() ? v.numberValue()
            : v.isBoolean() ? (Object) v.booleanValue() : v.isTextual() ? v.asText() : v.toString());
      }
    } else {
      throw new IllegalArgumentException("the trigger metadata 'ApplicationProperties' is a "
          + applicationProperties.getClass().getName() + "; declare it as Map<String, Object> or "
          + "String");
    }
    return values;
  }

  /**
   * The header getter over an Event Hubs trigger's {@code Properties} metadata (single-event
   * cardinality): the map the worker binds, or its JSON text.
   */
  public static Function<String, String> eventHubs(Object properties) {
    return metadataGetter(properties, "Properties",
        "@BindingName(\"Properties\") Map<String, Object> properties");
  }

  /**
   * Decodes one event of a Kafka trigger declared with {@code dataType = "string"} (cardinality
   * ONE).
   *
   * @throws IllegalArgumentException when {@code json} is null, not JSON, or not the Kafka
   *     trigger's event object (for example a trigger without {@code dataType = "string"}, which
   *     hands over the bare value)
   */
  public static KafkaTriggerEvent kafkaEvent(String json) {
    return kafkaEvent(parse(json, "the Kafka trigger's event"));
  }

  /** Decodes the events of a Kafka trigger with cardinality MANY and {@code dataType = "string"}. */
  public static List<KafkaTriggerEvent> kafkaEvents(String json) {
    JsonNode root = parse(json, "the Kafka trigger's events");
    if (!root.isArray()) {
      throw new IllegalArgumentException("expected the JSON array of a Kafka trigger with "
          + "cardinality MANY, got " + root.getNodeType());
    }
    List<KafkaTriggerEvent> events = new ArrayList<>();
    for (JsonNode n : root) {
      events.add(kafkaEvent(n.isTextual() ? parse(n.asText(), "a Kafka trigger event") : n));
    }
    return events;
  }

  private static KafkaTriggerEvent kafkaEvent(JsonNode event) {
    if (!event.isObject() || !event.has("Topic") || !event.has("Partition")) {
      throw new IllegalArgumentException("not a Kafka trigger event (no Topic/Partition); declare "
          + "the trigger parameter with dataType = \"string\" so that the event, its headers "
          + "included, is handed over as JSON");
    }
    Map<String, String> headers = new HashMap<>();
    JsonNode hs = event.path("Headers");
    if (hs.isArray()) {
      for (JsonNode h : hs) {
        String key = h.path("Key").asText(null);
        JsonNode v = h.path("Value");
        if (key == null) {
          continue;
        }
        headers.put(key, v.isNull() || v.isMissingNode() ? null : decodeBase64(key, v.asText()));
      }
    }
    return new KafkaTriggerEvent(event.path("Topic").asText(), event.path("Partition").asInt(),
        event.path("Offset").asLong(), textOrNull(event.path("Timestamp")),
        textOrNull(event.path("Key")), textOrNull(event.path("Value")), headers);
  }

  private static String decodeBase64(String key, String value) {
    try {
      return new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Kafka header '" + key + "' is not base64 as the Kafka "
          + "trigger encodes headers", e);
    }
  }

  private static String textOrNull(JsonNode n) {
    return n.isMissingNode() || n.isNull() ? null : n.asText();
  }

  private static Function<String, String> metadataGetter(Object metadata, String name,
      String declaration) {
    if (metadata == null) {
      throw new IllegalArgumentException("the trigger metadata '" + name + "' is missing: a "
          + "Tandem-protected function must declare it, e.g. " + declaration);
    }
    Map<String, String> values = new HashMap<>();
    if (metadata instanceof Map<?, ?> map) {
      map.forEach((k, v) -> values.put(String.valueOf(k), v == null ? null : String.valueOf(v)));
    } else if (metadata instanceof CharSequence text) {
      JsonNode root = parse(text.toString(), "the trigger metadata '" + name + "'");
      if (!root.isObject()) {
        throw new IllegalArgumentException("the trigger metadata '" + name + "' is not a JSON "
            + "object but " + root.getNodeType());
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        values.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText());
      }
    } else {
      throw new IllegalArgumentException("the trigger metadata '" + name + "' is a "
          + metadata.getClass().getName() + "; declare it as Map<String, Object> or String");
    }
    return values::get;
  }

  private static JsonNode parse(String json, String what) {
    if (json == null) {
      throw new IllegalArgumentException(what + " is missing");
    }
    try {
      return JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(what + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
  }
}

package dev.tandem.azure.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.Envelope;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.TandemIds;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The envelope read back from the shapes the Functions triggers hand over: a bound metadata map, its
 * JSON text, and the Kafka trigger's event JSON with base64 headers.
 */
class TriggerHeadersTest {

  static final ObjectMapper JSON = new ObjectMapper();
  final Envelope envelope = Envelope.forPayload(TandemIds.newId(),
      "payload".getBytes(StandardCharsets.UTF_8), 3, 1_764_000_000_000L);

  Map<String, Object> applicationProperties() {
    Map<String, Object> props = new LinkedHashMap<>();
    props.put("customer", "c-7");
    props.put("amount", 12); // a non-string property, as the worker binds numbers
    EnvelopeCodec.write(envelope, props::put);
    return props;
  }

  @Test
  void serviceBusApplicationPropertiesAsABoundMapOrAsJsonTextGiveTheEnvelope() throws Exception {
    Map<String, Object> props = applicationProperties();
    assertEquals(envelope, EnvelopeCodec.read(TriggerHeaders.serviceBus(props)));
    String text = JSON.writeValueAsString(props);
    assertEquals(envelope, EnvelopeCodec.read(TriggerHeaders.serviceBus(text)));
    assertEquals("12", TriggerHeaders.serviceBus(text).apply("amount"));
    assertEquals(envelope, EnvelopeCodec.read(TriggerHeaders.eventHubs(props)));
  }

  @Test
  void undeclaredOrMalformedMetadataFailsNamingTheDeclarationToAdd() {
    IllegalArgumentException missing =
        assertThrows(IllegalArgumentException.class, () -> TriggerHeaders.serviceBus(null));
    assertTrue(missing.getMessage().contains("@BindingName(\"ApplicationProperties\")"),
        missing.getMessage());
    assertThrows(IllegalArgumentException.class, () -> TriggerHeaders.serviceBus("{not json"));
    assertThrows(IllegalArgumentException.class, () -> TriggerHeaders.serviceBus("[1,2]"));
    assertThrows(IllegalArgumentException.class, () -> TriggerHeaders.eventHubs(42));
  }

  ObjectNode kafkaEventJson(int offset) {
    ObjectNode event = JSON.createObjectNode();
    event.put("Offset", offset);
    event.put("Partition", 3);
    event.put("Topic", "orders");
    event.put("Timestamp", "2026-11-25T06:00:00.000Z");
    event.put("Key", "customer-7");
    event.put("Value", "payload");
    ArrayNode headers = event.putArray("Headers");
    EnvelopeCodec.write(envelope, (k, v) -> headers.addObject().put("Key", k).put("Value",
        Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    return event;
  }

  @Test
  void aKafkaTriggerEventWithBase64HeadersGivesTheEnvelopeAndTheRecord() {
    KafkaTriggerEvent event = TriggerHeaders.kafkaEvent(kafkaEventJson(41).toString());
    assertEquals("orders", event.topic());
    assertEquals(3, event.partition());
    assertEquals(41, event.offset());
    assertEquals("customer-7", event.key());
    assertEquals("payload", event.value());
    assertEquals(envelope, EnvelopeCodec.read(event::header));
    assertNull(event.header("absent"));
  }

  @Test
  void aBatchOfKafkaEventsIsDecodedInOrder() {
    ArrayNode many = JSON.createArrayNode();
    many.add(kafkaEventJson(1));
    many.add(kafkaEventJson(2).toString()); // the extension may also hand each event as a string
    List<KafkaTriggerEvent> events = TriggerHeaders.kafkaEvents(many.toString());
    assertEquals(List.of(1L, 2L), events.stream().map(KafkaTriggerEvent::offset).toList());
    events.forEach(e -> assertEquals(envelope, EnvelopeCodec.read(e::header)));
  }

  @Test
  void aKafkaTriggerWithoutStringDataTypeIsExplained() {
    IllegalArgumentException bare = assertThrows(IllegalArgumentException.class,
        () -> TriggerHeaders.kafkaEvent("\"just the value\""));
    assertTrue(bare.getMessage().contains("dataType = \"string\""), bare.getMessage());
    ObjectNode badHeader = kafkaEventJson(1);
    ((ArrayNode) badHeader.get("Headers")).addObject().put("Key", "x").put("Value", "%%%");
    assertThrows(IllegalArgumentException.class, () -> TriggerHeaders.kafkaEvent(badHeader.toString()));
  }
}

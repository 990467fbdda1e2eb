package dev.tandem.azure.functions;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The first response to an idempotency key, as stored in the record's result and replayed to retries
 * in any region: status, the selected headers, and the body up to a limit.
 *
 * @param status the HTTP status code
 * @param headers the selected headers that were present, in configuration order
 * @param body the body bytes (empty when there was none or it was omitted)
 * @param text whether the body was text (a String), so it is replayed as a String
 * @param bodyOmitted whether the body exceeded the limit and was not stored
 * @param notKept whether this is only the marker "completed, response not kept": the status alone,
 *     because even the headers did not fit the store's result limit
 */
record StoredResponse(int status, Map<String, String> headers, byte[] body, boolean text,
    boolean bodyOmitted, boolean notKept) {

  private static final ObjectMapper JSON = new ObjectMapper();

  StoredResponse {
    headers = Map.copyOf(headers);
  }

  StoredResponse(int status, Map<String, String> headers, byte[] body, boolean text,
      boolean bodyOmitted) {
    this(status, headers, body, text, bodyOmitted, false);
  }

  /** The same response without its body (status and headers kept). */
  StoredResponse withoutBody() {
    return new StoredResponse(status, headers, new byte[0], text, true, false);
  }

  /** The marker "completed, response not kept": the status only. */
  StoredResponse marker() {
    return new StoredResponse(status, Map.of(), new byte[0], true, true, true);
  }

  /** As JSON bytes (the store keeps bytes; JSON keeps a stored record readable by an operator). */
  byte[] encode() {
    ObjectNode n = JSON.createObjectNode();
    n.put("v", 1);
    n.put("status", status);
    ObjectNode h = n.putObject("headers");
    headers.forEach(h::put);
    if (text) {
      n.put("text", new String(body, StandardCharsets.UTF_8));
    } else {
      n.put("bytes", Base64.getEncoder().encodeToString(body));
    }
    n.put("bodyOmitted", bodyOmitted);
    if (notKept) {
      n.put("notKept", true); // absent in records written before the marker existed
    }
    try {
      return JSON.writeValueAsBytes(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode a stored response", e);
    }
  }

  static StoredResponse decode(byte[] stored) {
    try {
      JsonNode n = JSON.readTree(stored);
      if (n == null || n.path("v").asInt() != 1) {
        throw new IllegalStateException("stored response has an unknown format");
      }
      Map<String, String> headers = new LinkedHashMap<>();
      n.path("headers").fields().forEachRemaining(e -> headers.put(e.getKey(), e.getValue().asText()));
      boolean text = n.has("text");
      byte[] body = text
          ? n.path("text").asText().getBytes(StandardCharsets.UTF_8)
          : Base64.getDecoder().decode(n.path("bytes").asText());
      return new StoredResponse(n.path("status").asInt(), headers, body, text,
          n.path("bodyOmitted").asBoolean(), n.path("notKept").asBoolean());
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalStateException("stored response cannot be read", e);
    }
  }
}

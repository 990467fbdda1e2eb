package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.microsoft.azure.functions.ExecutionContext;
import com.microsoft.azure.functions.HttpMethod;
import com.microsoft.azure.functions.HttpRequestMessage;
import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatus;
import com.microsoft.azure.functions.HttpStatusType;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.HttpTrigger;
import dev.tandem.consumer.RegionHealth;
import java.lang.reflect.Method;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The sample app's {@code health} function: its binding, and the answer it builds from the region's
 * health (the snapshot itself and its status rules are tested in the consumer module's
 * RegionHealthTest and, against real clusters through TandemFunctions.health(), in the azure
 * module's FunctionsOwnershipTwoRegionsTest).
 */
class HealthFunctionTest {

  @Test
  void theHealthFunctionIsAnHttpGetOnTandemHealth() throws Exception {
    Method m = OrderFunctions.class.getMethod("health", HttpRequestMessage.class,
        ExecutionContext.class);
    assertEquals("health", m.getAnnotation(FunctionName.class).value());
    HttpTrigger t = m.getParameters()[0].getAnnotation(HttpTrigger.class);
    assertEquals("tandem/health", t.route());
    assertArrayEquals(new HttpMethod[] {HttpMethod.GET}, t.methods());
  }

  @Test
  void downAnswers503AndUpOrDegradedAnswer200WithTheDetailsAsJson() throws Exception {
    for (RegionHealth.Status status : RegionHealth.Status.values()) {
      Map<String, Object> details = new LinkedHashMap<>();
      details.put("status", status.name());
      details.put("reasons", status == RegionHealth.Status.UP ? List.of() : List.of("why"));
      details.put("shardsOwned", 2);
      RegionHealth health = mock(RegionHealth.class);
      when(health.status()).thenReturn(status);
      when(health.details()).thenReturn(details);

      HttpResponseMessage response = OrderFunctions.healthResponse(request(), health);

      int expected = status == RegionHealth.Status.DOWN ? 503 : 200;
      assertEquals(expected, response.getStatusCode(), status.name());
      assertEquals("application/json", response.getHeader("Content-Type"));
      JsonNode body = new ObjectMapper().readTree((String) response.getBody());
      assertEquals(status.name(), body.get("status").asText());
      assertEquals(2, body.get("shardsOwned").asInt());
    }
  }

  @SuppressWarnings("unchecked")
  private static HttpRequestMessage<Optional<String>> request() {
    HttpRequestMessage<Optional<String>> r = mock(HttpRequestMessage.class);
    when(r.createResponseBuilder(any(HttpStatus.class))).thenAnswer(
        inv -> new Builder(inv.getArgument(0)));
    return r;
  }

  /** The worker's response builder, as plain values. */
  private static final class Builder implements HttpResponseMessage.Builder {
    private HttpStatusType status;
    private final Map<String, String> headers = new HashMap<>();
    private Object body;

    Builder(HttpStatusType status) {
      this.status = status;
    }

    @Override
    public HttpResponseMessage.Builder status(HttpStatusType status) {
      this.status = status;
      return this;
    }

    @Override
    public HttpResponseMessage.Builder header(String key, String value) {
      headers.put(key, value);
      return this;
    }

    @Override
    public HttpResponseMessage.Builder body(Object body) {
      this.body = body;
      return this;
    }

    @Override
    public HttpResponseMessage build() {
      HttpStatusType s = status;
      Object b = body;
      return new HttpResponseMessage() {
        @Override
        public HttpStatusType getStatus() {
          return s;
        }

        @Override
        public String getHeader(String key) {
          return headers.get(key);
        }

        @Override
        public Object getBody() {
          return b;
        }
      };
    }
  }
}

package dev.tandem.azure.functions;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.microsoft.azure.functions.HttpRequestMessage;
import com.microsoft.azure.functions.HttpResponseMessage;
import com.microsoft.azure.functions.HttpStatusType;
import dev.tandem.store.IdRecord;
import dev.tandem.store.IdempotencyStore;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link IdempotentHttp} keeps of a first response and how a retry gets it back: the status,
 * the selected headers and the body up to {@code maxBodyBytes}, encoded as a {@link StoredResponse}
 * and completed into the idempotency store in the largest form the store keeps — whole, else
 * without the body, else the marker "completed, response not kept" (the status). The side effect
 * happened, so the key is completed whatever the response's size (a claim left live would let a
 * retry after its lease run the function again); what is left out is logged.
 */
final class ResponseKeeping {

  private static final Logger LOG = LoggerFactory.getLogger(IdempotentHttp.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = IdempotentHttp.IDEMPOTENCY_KEY;

  private final IdempotencyStore store;
  private final int maxBodyBytes;
  private final List<String> storedHeaders;

  ResponseKeeping(IdempotencyStore store, int maxBodyBytes, List<String> storedHeaders) {
    this.store = store;
    this.maxBodyBytes = maxBodyBytes;
    this.storedHeaders = storedHeaders;
  }

  /** Completes the key with the first response (its largest form the store keeps). */
  Kept keep(String key, int shard, HttpResponseMessage response) {
    try {
      return completeWithin(key, shard, capture(response));
    } catch (UnstorableBodyException e) {
      // the side effect happened: complete with the status only, never leave the claim to expire
      Kept done = completeWithin(key, shard, e.statusOnly);
      notKept(key, -1, storeResultLimit(), "the body cannot be stored as JSON (" + e.getMessage()
          + "): the status only is kept");
      return new Kept(done.record(), false);
    }
  }

  /**
   * Completes the key with the largest form of the response the store keeps: whole; else without
   * the body; else the marker "completed, response not kept" (the status); else no result at all.
   * The side effect happened, so the key must be completed whatever the response's size: a claim
   * left live would let a retry after its lease run the function again.
   */
  private Kept completeWithin(String key, int shard, StoredResponse captured) {
    int limit = storeResultLimit();
    byte[] whole = captured.encode();
    if (whole.length <= limit) {
      try {
        return new Kept(store.complete(key, shard, whole), true);
      } catch (IllegalArgumentException refused) {
        // a store that does not tell its limit refused the size before writing anything
        LOG.debug("the store refused the response of {}: {}", key, refused.getMessage());
      }
    }
    List<StoredResponse> smaller = List.of(captured.withoutBody(), captured.marker());
    for (StoredResponse form : smaller) {
      byte[] bytes = form.encode();
      if (bytes.length > limit) {
        continue;
      }
      try {
        IdRecord record = store.complete(key, shard, bytes);
        notKept(key, whole.length, limit, form.notKept() ? "the status only is kept"
            : "the status and headers are kept, not the body");
        return new Kept(record, false);
      } catch (IllegalArgumentException refused) {
        // too large for this store too: the next, smaller form
      }
    }
    // only with a store that does not tell its limit (build() refuses a told limit below the
    // marker's size) and refuses even the marker
    IdRecord record = store.complete(key, shard, null);
    notKept(key, whole.length, limit, "nothing is kept (the store refused even the marker): a "
        + "retry gets 200 with " + IdempotentHttp.RESPONSE_NOT_KEPT_HEADER + ", whatever the first status");
    return new Kept(record, false);
  }

  /** A response body with no JSON form; carries the marker to complete the request with. */
  private static final class UnstorableBodyException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient StoredResponse statusOnly;

    UnstorableBodyException(String message, StoredResponse statusOnly, Throwable cause) {
      super(message, cause);
      this.statusOnly = statusOnly;
    }
  }

  /** The completed record, and whether the whole response was kept in it. */
  record Kept(IdRecord record, boolean wholeKept) {}

  private void notKept(String key, int size, int limit, String what) {
    if (size < 0) {
      LOG.warn("the response to " + KEY + " {}: the request is completed "
          + "and will not run again, but {}", key, what);
      return;
    }
    LOG.warn("the response to " + KEY + " {} is {} bytes as stored, over "
        + "the store's result limit ({} bytes, maxResultBytes): the request is completed and will "
        + "not run again, but {}; raise the store's maxResultBytes or lower maxBodyBytes",
        key, size, limit, what);
  }

  private int storeResultLimit() {
    try {
      return store.maxResultBytes();
    } catch (UnsupportedOperationException e) {
      return Integer.MAX_VALUE; // the store refuses what is too large; the fallback handles it
    }
  }

  private StoredResponse capture(HttpResponseMessage response) {
    Map<String, String> headers = new LinkedHashMap<>();
    for (String name : storedHeaders) {
      String v = response.getHeader(name);
      if (v != null) {
        headers.put(name, v);
      }
    }
    Object body = response.getBody();
    byte[] bytes;
    boolean text;
    if (body == null) {
      bytes = new byte[0];
      text = true;
    } else if (body instanceof byte[] b) {
      bytes = b;
      text = false;
    } else if (body instanceof String s) {
      bytes = s.getBytes(StandardCharsets.UTF_8);
      text = true;
    } else {
      try {
        bytes = JSON.writeValueAsBytes(body);
        text = true;
      } catch (JsonProcessingException e) {
        throw new UnstorableBodyException("the response body of type "
            + body.getClass().getName() + " cannot be stored as JSON for replay",
            new StoredResponse(response.getStatusCode(), headers, new byte[0], true, true)
                .marker(), e);
      }
    }
    boolean omitted = bytes.length > maxBodyBytes;
    return new StoredResponse(response.getStatusCode(), headers, omitted ? new byte[0] : bytes,
        text, omitted);
  }

  /** The stored response of a completed key, as the answer to a retry ({@code Tandem-Replayed: true}). */
  HttpResponseMessage replay(HttpRequestMessage<?> request, IdRecord record) {
    // no result: completed with nothing kept (a store limit below even the marker's size)
    StoredResponse stored = record.result() == null
        ? new StoredResponse(200, Map.of(), new byte[0], true, true, true)
        : StoredResponse.decode(record.result());
    HttpResponseMessage.Builder b =
        request.createResponseBuilder(HttpStatusType.custom(stored.status()));
    stored.headers().forEach(b::header);
    b.header(IdempotentHttp.REPLAYED_HEADER, "true");
    if (stored.notKept()) {
      b.header(IdempotentHttp.RESPONSE_NOT_KEPT_HEADER, "true");
    }
    if (stored.bodyOmitted()) {
      b.header(IdempotentHttp.BODY_OMITTED_HEADER, "true");
    } else if (stored.body().length > 0) {
      b.body(stored.text() ? new String(stored.body(), StandardCharsets.UTF_8) : stored.body());
    }
    return b.build();
  }
}

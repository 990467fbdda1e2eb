package dev.tandem.consumer.ownership;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.ManualClock;
import io.micrometer.core.instrument.Gauge;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The owning side of remote ownership requests under faults an operator must see or must not be
 * fooled by: a reader of the request topic that dies (not authorized), and a step of this machine's
 * wall clock while a request is pending. Manual clock, a real store, fake clients.
 */
class OwnershipRequestsFaultsTest extends OwnerRegionFixture {

  static final String TOPIC = "t.ownership";

  @Test
  void aReaderThatIsNotAuthorizedToReadTheTopicIsShownByAMeterAndTheFailure() {
    MockConsumer<String, String> consumer = new MockConsumer<>("earliest");
    TopicPartition tp = new TopicPartition(TOPIC, 0);
    consumer.updateBeginningOffsets(Map.of(tp, 0L));
    consumer.updateEndOffsets(Map.of(tp, 0L));
    consumer.setPollException(new TopicAuthorizationException(Set.of(TOPIC)));
    MockProducer<String, String> producer = new MockProducer<>(true, null, new StringSerializer(),
        new StringSerializer());
    KafkaOwnershipChannel channel = new KafkaOwnershipChannel(consumer, producer, TOPIC, "test",
        () -> { });
    OwnershipRequests requests = new OwnershipRequests(ownership, channel, "a-1", clock, meters);
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> channel.failure().isPresent());
      Gauge failed = meters.find("tandem.ownership.requests.reader.failed").tag("region", "region-a")
          .gauge();
      assertTrue(failed != null, "a meter shows the dead reader: " + meters.getMeters().stream()
          .map(m -> m.getId().getName()).toList());
      assertEquals(1.0, failed.value());
      assertTrue(requests.failure().orElse("").contains("TopicAuthorizationException"),
          requests.failure().toString());
      assertEquals(List.of(), requests.act(Set.of(0, 2)), "nothing to act on, nothing thrown");
    } finally {
      requests.close();
    }
  }

  @Test
  void aReaderThatReadsShowsNoFailure() {
    OwnershipRequests requests = new OwnershipRequests(ownership, topic.reader(), "a-1", clock,
        meters);
    assertEquals(0.0, meters.find("tandem.ownership.requests.reader.failed").gauge().value());
    assertTrue(requests.failure().isEmpty());
    requests.close();
    // a later object of the region (a restart in the same process) shows its own reader, not this one
    assertEquals(null, meters.find("tandem.ownership.requests.reader.failed").gauge(),
        "removed on close");
  }

  @Test
  void aStepBackOfTheWallClockDoesNotKeepARequestLiveAfterItsTimeRanOut() {
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    topic.request(new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(2)),
        clock.wallMillis() + 5_000, "test"));
    assertEquals(List.of(), owner.act(Set.of(0))); // read while shard 2 is not served here
    // NTP steps this machine's wall clock back an hour, then 6 s pass: the client gave up
    clock.setWallMillis(clock.wallMillis() - 3_600_000);
    clock.advance(Duration.ofSeconds(6));

    assertEquals(List.of(), owner.act(Set.of(0, 2)), "the client gave up: nothing may move");
    assertEquals(A, ownership.lease(2).owner());
    assertEquals(0, ownership.lease(2).epoch());
  }

  @Test
  void aStepForwardOfTheWallClockStillEndsTheRequest() {
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    topic.request(new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(2)),
        clock.wallMillis() + 5_000, "test"));
    assertEquals(List.of(), owner.act(Set.of(0)));
    // the client's deadline is wall time: past it by this clock, the request is over too (the
    // less of the two clocks' times left decides, never the more)
    clock.setWallMillis(clock.wallMillis() + 3_600_000);
    assertEquals(List.of(), owner.act(Set.of(0, 2)));
    assertEquals(A, ownership.lease(2).owner());
  }

  @Test
  void withoutAStepTheRequestIsActedOnWithinItsTime() {
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    topic.request(new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(2)),
        clock.wallMillis() + 5_000, "test"));
    assertEquals(List.of(), owner.act(Set.of(0)));
    clock.advance(Duration.ofSeconds(4));
    List<OwnershipResult> out = owner.act(Set.of(0, 2));
    assertEquals(1, out.size(), out.toString());
    assertTrue(out.get(0).moved(), out.toString());
    assertEquals(B, ownership.lease(2).owner());
  }

  /** A version-2 request as OwnershipAdmin writes it, stamped by an issuer whose wall clock is off. */
  OwnershipRequest skewed(long issuerOffsetMillis, long timeoutMillis) {
    ManualClock issuer = new ManualClock(clock.wallMillis() + issuerOffsetMillis);
    return new OwnershipRequest("r1", A, B, new TreeSet<>(Set.of(2)),
        issuer.wallMillis() + timeoutMillis, "skewed-host", false, timeoutMillis);
  }

  @Test
  void anIssuerWallClockAnHourBehindDoesNotShortenTheOwnersWindow() {
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    assertEquals(List.of(), owner.act(Set.of(0))); // the reader has caught up: what follows is new
    topic.request(skewed(-3_600_000, 5_000));
    assertEquals(List.of(), owner.act(Set.of(0))); // read while shard 2 is not served here
    clock.advance(Duration.ofSeconds(4));

    List<OwnershipResult> out = owner.act(Set.of(0, 2));
    assertEquals(1, out.size(), "4 s of its 5 s time-out have passed here: " + out);
    assertTrue(out.get(0).moved(), out.toString());
    assertEquals(B, ownership.lease(2).owner());
  }

  @Test
  void anIssuerWallClockAnHourAheadDoesNotLengthenTheOwnersWindow() {
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    assertEquals(List.of(), owner.act(Set.of(0)));
    topic.request(skewed(3_600_000, 5_000));
    assertEquals(List.of(), owner.act(Set.of(0)));
    clock.advance(Duration.ofSeconds(6));

    assertEquals(List.of(), owner.act(Set.of(0, 2)), "its 5 s time-out ran out here: nothing moves");
    assertEquals(A, ownership.lease(2).owner());
    assertEquals(0, ownership.lease(2).epoch());
  }

  @Test
  void aStaleRequestReadFromTheBacklogAfterARestartStaysExpired() {
    // written 10 min ago with a 5 s time-out, by a correct clock; this owner starts now and reads
    // the topic from the beginning: the time-out alone would make it live again
    ManualClock issuer = new ManualClock(clock.wallMillis() - 600_000);
    topic.request(new OwnershipRequest("old", A, B, new TreeSet<>(Set.of(2)),
        issuer.wallMillis() + 5_000, "ops-host", false, 5_000));
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);

    assertEquals(List.of(), owner.act(Set.of(0, 2)));
    assertEquals(A, ownership.lease(2).owner());
    assertEquals(1, meters.find("tandem.ownership.requests").tag("outcome", "expired").counter()
        .count());
  }

  @Test
  void aRequestReadFromTheBacklogIsBoundedByItsTimeOutToo() {
    // in the topic before the reader opened, its wall deadline far ahead (issuer clock ahead)
    topic.request(skewed(3_600_000, 5_000));
    OwnershipRequests owner = new OwnershipRequests(ownership, topic.reader(), "a-1", clock, meters);
    assertEquals(List.of(), owner.act(Set.of(0)));
    clock.advance(Duration.ofSeconds(6));

    assertEquals(List.of(), owner.act(Set.of(0, 2)), "never longer than the issuer allowed");
    assertEquals(A, ownership.lease(2).owner());
  }
}

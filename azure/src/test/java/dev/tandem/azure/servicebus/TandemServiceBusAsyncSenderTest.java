package dev.tandem.azure.servicebus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.messaging.servicebus.ServiceBusMessage;
import dev.tandem.core.EnvelopeCodec;
import dev.tandem.core.RegionId;
import dev.tandem.publisher.AckPolicy;
import dev.tandem.publisher.PublishResult;
import dev.tandem.testkit.TestRegions;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Mono;

/** The Reactor sender over mocked {@code ServiceBusSenderAsyncClient}s and the real publisher. */
class TandemServiceBusAsyncSenderTest {

  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  @TempDir Path spool;
  final FakeNamespace nsA = new FakeNamespace("orders", 10, 1024, 1);
  final FakeNamespace nsB = new FakeNamespace("orders", 10, 1024, 500);
  TandemServiceBusAsyncSender sender;

  @BeforeEach
  void build() {
    sender = TandemServiceBusAsyncSender.builder()
        .region(A, nsA.asyncClient())
        .region(B, nsB.asyncClient())
        .shardCount(8)
        .operationTimeout(Duration.ofSeconds(5))
        .publisher(p -> p.spoolDirectory(spool).ackPolicy(AckPolicy.ALL))
        .build();
  }

  @AfterEach
  void close() {
    sender.close();
  }

  @Test
  void nothingIsSentUntilSubscriptionThenEveryRegionGetsTheCopy() {
    Mono<PublishResult> send = sender.sendMessage(new ServiceBusMessage("hello").setSessionId("s-1"));
    assertTrue(nsA.delivered.isEmpty() && nsB.delivered.isEmpty(), "a Mono is lazy");

    PublishResult result = send.block(Duration.ofSeconds(10));
    assertEquals(List.of(result.id()), nsA.deliveredIds());
    assertEquals(List.of(result.id()), nsB.deliveredIds());
    assertEquals("s-1", nsB.delivered.get(0).getSessionId());
    assertEquals(result.envelope(), EnvelopeCodec.read(
        n -> (String) nsB.delivered.get(0).getApplicationProperties().get(n)));
  }

  @Test
  void sendMessagesEmitsOneResultPerMessageInOrder() {
    List<PublishResult> results = sender.sendMessages(List.of(
        new ServiceBusMessage("a").setMessageId("a"),
        new ServiceBusMessage("b").setMessageId("b"),
        new ServiceBusMessage("c").setMessageId("c"))).block(Duration.ofSeconds(10));
    assertEquals(List.of("a", "b", "c"), results.stream().map(PublishResult::id).toList());
    assertEquals(List.of("a", "b", "c"), nsA.deliveredIds());
    assertEquals(List.of("a", "b", "c"), nsB.deliveredIds());
  }

  @Test
  void scheduleThenCancelInBothRegions() {
    OffsetDateTime at = OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(30);
    ScheduledMessage s = sender.scheduleMessage(new ServiceBusMessage("later"), at)
        .block(Duration.ofSeconds(10));
    assertEquals(Map.of(A, 1L, B, 500L), s.knownSequenceNumbers());

    Mono<Void> cancel = sender.cancelScheduledMessage(s);
    assertTrue(nsA.cancelled.isEmpty(), "a Mono is lazy");
    cancel.block(Duration.ofSeconds(10));
    assertEquals(List.of(1L), nsA.cancelled);
    assertEquals(List.of(500L), nsB.cancelled);
  }

  @Test
  void aFailedCancellationFailsTheMonoNamingTheRegion() {
    ScheduledMessage s = sender.scheduleMessage(new ServiceBusMessage("later"),
        OffsetDateTime.now(ZoneOffset.UTC).plusMinutes(30)).block(Duration.ofSeconds(10));
    nsA.down.set(true);
    CancelScheduledException e = assertThrows(CancelScheduledException.class,
        () -> sender.cancelScheduledMessage(s).block(Duration.ofSeconds(10)));
    assertEquals(java.util.Set.of(A), e.failures().keySet());
    assertEquals(List.of(500L), nsB.cancelled);
  }
}

package dev.tandem.azure.witness;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobServiceClientBuilder;
import com.azure.storage.blob.models.LeaseStateType;
import dev.tandem.consumer.witness.WitnessGrant;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Blob-lease witness against a real Azure Storage emulator (Azurite). {@code .ci/run} starts
 * Azurite and exports {@code TANDEM_AZURITE_BLOB}; without it (no Node on the machine) the class is
 * skipped with a message saying so. Each test uses its own new container.
 */
class BlobLeaseWitnessAzuriteTest {

  static final String ENV = "TANDEM_AZURITE_BLOB";
  static final RegionId A = TestRegions.A;
  static final RegionId B = TestRegions.B;

  static String connectionString;

  String containerName;
  final List<BlobLeaseWitness> witnesses = new ArrayList<>();

  @BeforeAll
  static void azurite() {
    connectionString = System.getenv(ENV);
    Assumptions.assumeTrue(connectionString != null && !connectionString.isBlank(),
        ENV + " is not set: Azurite (Node) is not available here, so the Blob lease witness is not "
            + "tested against a real Blob endpoint. .ci/run installs and starts Azurite and sets it.");
  }

  @BeforeEach
  void freshContainer() {
    containerName = "witness-" + UUID.randomUUID().toString().substring(0, 8);
  }

  @AfterEach
  void closeAll() {
    witnesses.forEach(BlobLeaseWitness::close);
  }

  BlobLeaseWitness witness(Duration lease, Duration margin, MeterRegistry registry) {
    BlobLeaseWitness w = BlobLeaseWitness.builder()
        .connectionString(connectionString, containerName)
        .leaseDuration(lease)
        .safetyMargin(margin)
        .requestTimeout(Duration.ofSeconds(5))
        .meterRegistry(registry)
        .build();
    witnesses.add(w);
    return w;
  }

  BlobLeaseWitness witness() {
    return witness(Duration.ofSeconds(60), Duration.ofSeconds(3), new SimpleMeterRegistry());
  }

  BlobContainerClient inspect() {
    return new BlobServiceClientBuilder().connectionString(connectionString).buildClient()
        .getBlobContainerClient(containerName);
  }

  @Test
  void twoContendersRacingForOneShardExactlyOneHoldsTheLease() throws Exception {
    MeterRegistry registryA = new SimpleMeterRegistry();
    MeterRegistry registryB = new SimpleMeterRegistry();
    BlobLeaseWitness inA = witness(Duration.ofSeconds(60), Duration.ofSeconds(3), registryA);
    BlobLeaseWitness inB = witness(Duration.ofSeconds(60), Duration.ofSeconds(3), registryB);
    CountDownLatch start = new CountDownLatch(1);
    // Both find neither container nor blob: they race through creation and then for the lease.
    CompletableFuture<WitnessGrant> a = CompletableFuture.supplyAsync(() -> {
      awaitLatch(start);
      return inA.acquire(7, A, 1);
    });
    CompletableFuture<WitnessGrant> b = CompletableFuture.supplyAsync(() -> {
      awaitLatch(start);
      return inB.acquire(7, B, 1);
    });
    start.countDown();
    WitnessGrant grantA = a.get(30, TimeUnit.SECONDS);
    WitnessGrant grantB = b.get(30, TimeUnit.SECONDS);

    assertTrue(grantA.granted() ^ grantB.granted(),
        "exactly one contender may hold the lease: " + grantA + " / " + grantB);
    RegionId winner = grantA.granted() ? A : B;
    RegionId loser = grantA.granted() ? B : A;
    BlobLeaseWitness loserWitness = grantA.granted() ? inB : inA;

    // Asked again once the winner's record is written, the refusal names the holder and its epoch.
    WitnessGrant again = loserWitness.acquire(7, loser, 1);
    assertFalse(again.granted());
    assertEquals(winner, again.holder());
    assertEquals(1, again.epoch());
    assertEquals(0L, again.validUntilNanos());

    var properties = inspect().getBlobClient(inA.blobName(7)).getProperties();
    assertEquals(LeaseStateType.LEASED, properties.getLeaseState());
    assertEquals(winner.name(), properties.getMetadata().get(LeaseRecord.HOLDER_KEY));
    assertEquals("1", properties.getMetadata().get(LeaseRecord.EPOCH_KEY));

    MeterRegistry winnerRegistry = grantA.granted() ? registryA : registryB;
    assertEquals(1.0, winnerRegistry.get("tandem.witness.acquire")
        .tags("region", winner.name(), "outcome", "granted").counter().count());
    MeterRegistry loserRegistry = grantA.granted() ? registryB : registryA;
    assertEquals(2.0, loserRegistry.get("tandem.witness.acquire")
        .tags("region", loser.name(), "outcome", "refused").counter().count());
  }

  @Test
  void holderRenewsAndARestartedInstanceOfTheSameRegionRenewsToo() {
    BlobLeaseWitness inA = witness();
    long before = System.nanoTime();
    WitnessGrant first = inA.acquire(0, A, 4);
    long after = System.nanoTime();
    assertTrue(first.granted());
    assertEquals(A, first.holder());
    assertEquals(4, first.epoch());
    // Timing rule: lease minus margin, counted from a moment between 'before' and 'after' at which
    // the request had not been sent yet.
    long validity = Duration.ofSeconds(57).toNanos();
    assertTrue(first.validUntilNanos() - before >= validity);
    assertTrue(first.validUntilNanos() - after <= validity);
    assertTrue(first.validAt(System.nanoTime()));

    WitnessGrant renewed = inA.acquire(0, A, 4);
    assertTrue(renewed.granted());
    assertTrue(renewed.validUntilNanos() - first.validUntilNanos() > 0, "a renewal extends validity");

    // A new process of region A (a restart after a crash) proposes the same lease id: it renews.
    BlobLeaseWitness restartedA = witness();
    WitnessGrant afterRestart = restartedA.acquire(0, A, 4);
    assertTrue(afterRestart.granted(), "the same region must be able to renew after a restart");

    WitnessGrant other = witness().acquire(0, B, 5);
    assertFalse(other.granted(), "a higher epoch does not break a live lease");
    assertEquals(A, other.holder());
    assertEquals(4, other.epoch());
  }

  @Test
  void releaseLetsTheOtherRegionTakeOverOnlyWithAHigherEpoch() {
    BlobLeaseWitness inA = witness();
    BlobLeaseWitness inB = witness();
    assertTrue(inA.acquire(3, A, 1).granted());
    inA.release(3, A);
    inA.release(3, A); // idempotent

    // B won the free lease, but epoch 1 is A's: refused, and B gives the lease straight back.
    WitnessGrant stale = inB.acquire(3, B, 1);
    assertFalse(stale.granted());
    assertEquals(A, stale.holder());
    assertEquals(1, stale.epoch());
    assertEquals(LeaseStateType.AVAILABLE,
        inspect().getBlobClient(inB.blobName(3)).getProperties().getLeaseState(),
        "a refused stale contender must not keep the lease");

    WitnessGrant takeover = inB.acquire(3, B, 2);
    assertTrue(takeover.granted());
    assertEquals(B, takeover.holder());
    assertEquals(2, takeover.epoch());
    Map<String, String> metadata = inspect().getBlobClient(inB.blobName(3)).getProperties().getMetadata();
    assertEquals("region-b", metadata.get(LeaseRecord.HOLDER_KEY));
    assertEquals("2", metadata.get(LeaseRecord.EPOCH_KEY));

    // Releasing a lease one does not hold changes nothing.
    inA.release(3, A);
    WitnessGrant refusedA = inA.acquire(3, A, 2);
    assertFalse(refusedA.granted());
    assertEquals(B, refusedA.holder());
    assertEquals(2, refusedA.epoch());
    // Once B hands over, A comes back only above B's epoch.
    inB.release(3, B);
    assertFalse(inA.acquire(3, A, 2).granted());
    assertTrue(inA.acquire(3, A, 3).granted());
  }

  @Test
  void anExpiredLeaseIsTakenOverWithTheNextEpochAfterTheOldHolderStoppedTrustingIt() {
    Duration lease = BlobLeaseWitness.MIN_LEASE_DURATION;
    BlobLeaseWitness inA = witness(lease, Duration.ofSeconds(1), new SimpleMeterRegistry());
    BlobLeaseWitness inB = witness(lease, Duration.ofSeconds(1), new SimpleMeterRegistry());
    WitnessGrant held = inA.acquire(5, A, 3);
    assertTrue(held.granted());
    assertFalse(inB.acquire(5, B, 4).granted());

    // A goes silent (no renewal). B keeps asking; the service frees the lease after 15 s.
    AtomicReference<WitnessGrant> taken = new AtomicReference<>();
    await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(500)).until(() -> {
      WitnessGrant g = inB.acquire(5, B, 4);
      if (g.granted()) {
        taken.set(g);
      }
      return g.granted();
    });
    long grantedAt = System.nanoTime();
    assertEquals(4, taken.get().epoch());
    assertEquals(B, taken.get().holder());
    assertFalse(held.validAt(grantedAt),
        "the old holder's grant must have run out before anyone else was granted the lease");

    WitnessGrant late = inA.acquire(5, A, 3);
    assertFalse(late.granted());
    assertEquals(B, late.holder());
    assertEquals(4, late.epoch());
  }

  static void awaitLatch(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aBlobWithoutTandemMetadataIsTakenWithAnyEpochAndGetsOne() {
    BlobLeaseWitness inA = witness();
    inspect().create();
    inspect().getBlobClient(inA.blobName(9)).upload(com.azure.core.util.BinaryData.fromString("x"));
    WitnessGrant g = inA.acquire(9, A, 0);
    assertTrue(g.granted());
    assertTrue(witness().acquire(9, A, 0).granted(), "renewal by the same region");
    assertEquals("0", inspect().getBlobClient(inA.blobName(9)).getProperties().getMetadata()
        .get(LeaseRecord.EPOCH_KEY));
  }

  @Test
  void unreadableTandemMetadataFailsClearlyAndLeavesTheLeaseFree() {
    BlobLeaseWitness inA = witness();
    inspect().create();
    var blob = inspect().getBlobClient(inA.blobName(2));
    blob.upload(com.azure.core.util.BinaryData.fromString(""));
    blob.setMetadata(Map.of(LeaseRecord.HOLDER_KEY, "region-a", LeaseRecord.EPOCH_KEY, "seven"));
    IllegalStateException e =
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> inA.acquire(2, A, 1));
    assertTrue(e.getMessage().contains(inA.blobName(2)) && e.getMessage().contains("seven"),
        e.getMessage());
    assertEquals(LeaseStateType.AVAILABLE, blob.getProperties().getLeaseState());
  }
}

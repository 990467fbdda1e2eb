package dev.tandem.azure.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.witness.WitnessUnavailableException;
import dev.tandem.core.RegionId;
import dev.tandem.testkit.TestRegions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The witness when its endpoint does not answer, and its settings; needs no emulator: a closed port
 * refuses the connection for real, and a listening socket that never reads is a real silent endpoint.
 */
class BlobLeaseWitnessUnreachableTest {

  static final String ACCOUNT_KEY =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  static final RegionId A = TestRegions.A;

  static String connectionStringFor(int port) {
    return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + ACCOUNT_KEY
        + ";BlobEndpoint=http://127.0.0.1:" + port + "/devstoreaccount1;";
  }

  static BlobLeaseWitness.Builder builderFor(int port) {
    return BlobLeaseWitness.builder()
        .connectionString(connectionStringFor(port), "tandem-witness")
        .requestTimeout(Duration.ofSeconds(2));
  }

  @Test
  void aRefusedConnectionIsWitnessUnavailablePromptlyAndNeverShowsTheKey() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    MeterRegistry registry = new SimpleMeterRegistry();
    try (BlobLeaseWitness witness = builderFor(closedPort).meterRegistry(registry).build()) {
      WitnessUnavailableException e = assertTimeoutPreemptively(Duration.ofSeconds(15),
          () -> assertThrows(WitnessUnavailableException.class, () -> witness.acquire(1, A, 1)));
      assertTrue(e.getMessage().contains("tandem-witness/tandem-shard-1"), e.getMessage());
      assertFalse(e.getMessage().contains(ACCOUNT_KEY), e.getMessage());
      assertFalse(witness.toString().contains(ACCOUNT_KEY), witness.toString());
      assertTrue(witness.toString().contains("devstoreaccount1"), witness.toString());
      assertThrows(WitnessUnavailableException.class, () -> witness.release(1, A));
      assertEquals(1.0, registry.get("tandem.witness.acquire")
          .tags("region", "region-a", "outcome", "unavailable").counter().count());
      assertEquals(1.0, registry.get("tandem.witness.release")
          .tags("region", "region-a", "outcome", "unavailable").counter().count());
    }
  }

  @Test
  void aSilentEndpointIsWitnessUnavailableAfterTheRequestTimeout() throws IOException {
    // The kernel completes the TCP handshake into the backlog; nobody ever reads or answers.
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        BlobLeaseWitness witness = builderFor(silent.getLocalPort()).build()) {
      long start = System.nanoTime();
      WitnessUnavailableException e = assertTimeoutPreemptively(Duration.ofSeconds(15),
          () -> assertThrows(WitnessUnavailableException.class, () -> witness.acquire(0, A, 1)));
      long tookMillis = Duration.ofNanos(System.nanoTime() - start).toMillis();
      assertTrue(tookMillis >= 1_900, "gave up before the 2 s timeout: " + tookMillis + " ms");
      assertTrue(e.getMessage().contains("did not answer"), e.getMessage());
      assertFalse(e.getMessage().contains(ACCOUNT_KEY), e.getMessage());
    }
  }

  @Test
  void settingsOutsideTheBlobServicesRangeOrInconsistentOnesAreRejected() {
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).leaseDuration(Duration.ofSeconds(14)).build());
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).leaseDuration(Duration.ofSeconds(61)).build());
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).leaseDuration(Duration.ofMillis(15_500)).build());
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).leaseDuration(Duration.ofSeconds(20)).safetyMargin(Duration.ofSeconds(11))
            .build());
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).safetyMargin(Duration.ZERO).build());
    assertThrows(IllegalArgumentException.class,
        () -> builderFor(1).leaseDuration(Duration.ofSeconds(15)).safetyMargin(Duration.ofSeconds(5))
            .requestTimeout(Duration.ofSeconds(10)).build());
    assertThrows(IllegalStateException.class, () -> BlobLeaseWitness.builder().build());
    IllegalArgumentException badName = assertThrows(IllegalArgumentException.class,
        () -> BlobLeaseWitness.builder().connectionString(connectionStringFor(1), "Bad_Name").build());
    assertTrue(badName.getMessage().contains("Bad_Name"));
    // Fifteen to sixty whole seconds is accepted.
    assertEquals(Duration.ofSeconds(15),
        builderFor(1).leaseDuration(Duration.ofSeconds(15)).safetyMargin(Duration.ofSeconds(2))
            .build().leaseDuration());
  }

  @Test
  void aMalformedConnectionStringIsRejectedWithoutQuotingIt() {
    String secretish = "AccountName=x;AccountKey=" + ACCOUNT_KEY + ";NoEndpointHere";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BlobLeaseWitness.builder().connectionString(secretish, "tandem-witness").build());
    assertFalse(e.getMessage().contains(ACCOUNT_KEY), e.getMessage());
    assertEquals(null, e.getCause());
  }

  @Test
  void everyInstanceOfARegionProposesTheSameLeaseIdAndRegionsDiffer() {
    assertEquals(BlobLeaseWitness.leaseIdOf(A), BlobLeaseWitness.leaseIdOf(TestRegions.A));
    assertFalse(BlobLeaseWitness.leaseIdOf(A).equals(BlobLeaseWitness.leaseIdOf(TestRegions.B)));
  }

  @Test
  void aClosedWitnessRefusesCalls() {
    BlobLeaseWitness witness = builderFor(1).build();
    witness.close();
    assertThrows(IllegalStateException.class, () -> witness.acquire(0, A, 1));
  }
}

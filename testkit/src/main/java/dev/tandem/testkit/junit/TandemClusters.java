package dev.tandem.testkit.junit;

import dev.tandem.testkit.KafkaRegion;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a test class against two real Kafka regions ({@code region-a}, {@code region-b}: a {@link
 * dev.tandem.testkit.TwoRegions}) started by {@link TwoRegionsExtension}, instead of a
 * {@code @BeforeAll} of its own.
 *
 * <p>By default ({@code shared = true}) the two regions are started ONCE per test JVM (per surefire
 * fork) and every {@code @TandemClusters} class of that JVM runs on the same pair: a class then
 * saves the three-second start and the shutdown. Shared regions come with two rules:
 * <ul>
 *   <li>never stop, stall or partition a shared broker or link ({@code stopBroker}, {@code cutLink},
 *       {@code link().cut()}): the next class in the same JVM would find it dead. A class that does
 *       declares {@code @TandemClusters(shared = false)} and gets its own pair, closed after it;</li>
 *   <li>never depend on a topic, group id or changelog prefix another class may also use: take
 *       fresh names ({@link FreshTopic}, {@link Topics#fresh(String)}) and fresh state directories
 *       ({@code @TempDir}).</li>
 * </ul>
 *
 * <p>The regions arrive in every field of type {@code TwoRegions} (static or instance) that is still
 * {@code null}, and in every test, lifecycle or constructor parameter of type {@code TwoRegions};
 * a {@code String} parameter annotated {@link FreshTopic} gets a topic name no other test of the JVM
 * has used. Region ids: {@link dev.tandem.testkit.TestRegions#A}, {@link dev.tandem.testkit.TestRegions#B}.
 *
 * <pre>{@code
 * @TandemClusters
 * class OrdersTest {
 *
 *   static TwoRegions regions; // injected before any @BeforeAll of the class
 *
 *   @Test
 *   void everyOrderOnce(@FreshTopic String topic, @TempDir Path dir) {
 *     regions.createTopic(topic, 4);
 *     ... // RegionNode(regions, TestRegions.A, ...), producers on regions.a().bootstrapServers()
 *   }
 * }
 *
 * @TandemClusters(shared = false) // stops region B's broker: its own pair of regions
 * class OutageTest {
 *   @Test
 *   void survivesRegionB(TwoRegions regions, @FreshTopic("orders") String topic) {
 *     regions.b().stopBroker();
 *     ...
 *   }
 * }
 * }</pre>
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(TwoRegionsExtension.class)
public @interface TandemClusters {

  /**
   * Whether the class runs on the JVM-wide pair of regions ({@code true}, the default) or on a pair
   * of its own, started before the class and closed after it ({@code false}). A class that stops,
   * stalls or partitions a broker or a link must say {@code false}.
   */
  boolean shared() default true;

  /**
   * The client listener security of region B (for example {@code SASL_SSL}, like Event Hubs'
   * Kafka endpoint). Anything but {@code PLAINTEXT} gives the class its own pair, as with
   * {@code shared = false}.
   */
  KafkaRegion.Security securityB() default KafkaRegion.Security.PLAINTEXT;
}

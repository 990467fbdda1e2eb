package dev.tandem.consumer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.consumer.TandemRegionConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link StateDirectory}: one holder of a state directory at a time; a stable instance id. */
class StateDirectoryTest {

  @TempDir Path dir;

  @Test
  void aSecondLockOfTheSameDirectoryIsRefusedUntilTheFirstIsReleased() throws Exception {
    Path state = dir.resolve("state");
    StateDirectory.Lock first = StateDirectory.lock(state);
    ConfigException refused = assertThrows(ConfigException.class, () -> StateDirectory.lock(state));
    assertTrue(refused.getMessage().contains(TandemRegionConfig.STATE_DIR_CONFIG),
        refused.getMessage());
    first.close();
    StateDirectory.lock(state).close(); // free again
  }

  @Test
  void theInstanceIdIsCreatedOnceAndKept() throws Exception {
    Path state = dir.resolve("state");
    String id = StateDirectory.instanceIdOf(state);
    assertEquals(id, StateDirectory.instanceIdOf(state));
    assertEquals(id, Files.readString(state.resolve(StateDirectory.INSTANCE_FILE),
        StandardCharsets.UTF_8).trim());
  }

  @Test
  void anEmptyInstanceFileIsAConfigurationMistakeNamingTheKeys() throws Exception {
    Path state = dir.resolve("state");
    Files.createDirectories(state);
    Files.writeString(state.resolve(StateDirectory.INSTANCE_FILE), "  \n");
    ConfigException e = assertThrows(ConfigException.class,
        () -> StateDirectory.instanceIdOf(state));
    assertTrue(e.getMessage().contains(TandemRegionConfig.INSTANCE_CONFIG), e.getMessage());
  }
}

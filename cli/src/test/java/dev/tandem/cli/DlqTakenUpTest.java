package dev.tandem.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tandem.core.RegionId;
import dev.tandem.store.IdRecord;
import dev.tandem.store.Owner;
import dev.tandem.store.Phase;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * When {@code tandem dlq redrive} counts a re-published id as taken up by a running consumer: its
 * record, as the command's replica reads it, changed from what it was when the copy went out. In
 * memory, no broker (the end-to-end case is {@code TandemCliTest}).
 */
class DlqTakenUpTest {

  private static final Owner OWNER = new Owner(RegionId.of("region-a"), "i-1");

  private static IdRecord record(long generation, Phase phase, int attempt) {
    return new IdRecord("id-1", 0, generation, phase, attempt, 0, OWNER, 0, 1, 1, new TreeSet<>(),
        new TreeSet<>(), null, null);
  }

  @Test
  void theRecordRedriveWroteIsNotTakenUp() {
    IdRecord redriven = record(1, Phase.RELEASED, 0);
    assertFalse(DlqCommand.RedriveCommand.takenUp(Optional.of(redriven), record(1, Phase.RELEASED, 0)));
  }

  @Test
  void aClaimACompletionOrANewDeadLetterOfTheNewGenerationIsTakenUp() {
    Optional<IdRecord> redriven = Optional.of(record(1, Phase.RELEASED, 0));
    assertTrue(DlqCommand.RedriveCommand.takenUp(redriven, record(1, Phase.CLAIMED, 1)));
    assertTrue(DlqCommand.RedriveCommand.takenUp(redriven, record(1, Phase.COMPLETED, 1)));
    assertTrue(DlqCommand.RedriveCommand.takenUp(redriven, record(1, Phase.DEAD_LETTERED, 2)));
  }

  @Test
  void aReleasedRecordIsTakenUpByItsNextAttemptOrGeneration() {
    Optional<IdRecord> released = Optional.of(record(1, Phase.RELEASED, 1));
    assertTrue(DlqCommand.RedriveCommand.takenUp(released, record(1, Phase.RELEASED, 2)));
    assertTrue(DlqCommand.RedriveCommand.takenUp(released, record(2, Phase.RELEASED, 0)));
    assertFalse(DlqCommand.RedriveCommand.takenUp(released, record(1, Phase.RELEASED, 1)));
  }

  @Test
  void anIdAbsentWhenTheCopyWentOutIsTakenUpByAnyRecord() {
    assertTrue(DlqCommand.RedriveCommand.takenUp(Optional.empty(), record(0, Phase.CLAIMED, 1)));
  }
}

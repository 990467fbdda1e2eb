package dev.tandem.cli;

import dev.tandem.consumer.ownership.OwnershipAdmin;
import dev.tandem.consumer.ownership.ShardMoveResult;
import dev.tandem.core.RegionId;
import java.util.List;
import picocli.CommandLine.Command;

/**
 * {@code tandem return --region R [--timeout D] [--force]}: hands back to {@code R} every shard whose
 * home it is ({@code sorted(regions)[shard % n]}) and that another region owns now, by planned
 * handover ({@link OwnershipAdmin#returnTo}); unanswered shards are reported (exit 1).
 */
@Command(name = "return", mixinStandardHelpOptions = true, description = "Hand a region its home shards back by planned handover "
    + "(after evacuate); waits for each shard's result.")
final class ReturnCommand extends EvacuateCommand {

  @Override
  List<ShardMoveResult> act(OwnershipAdmin admin, RegionId r) {
    return admin.returnTo(r, timeout, force);
  }
}

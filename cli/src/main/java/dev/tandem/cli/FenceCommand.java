package dev.tandem.cli;

import java.time.Duration;
import picocli.CommandLine.Command;

/**
 * {@code tandem fence --shard N [--to R]}: as {@code move} without waiting for the old owner (it is
 * known to be down): the duplicate bound is unknown, every duplicate is detected by the store; exit
 * code 1 says so.
 */
@Command(name = "fence", mixinStandardHelpOptions = true, description = "Move one shard without waiting for its old owner (known "
    + "down): duplicate bound unknown, exit 1.")
final class FenceCommand extends MoveCommand {

  @Override
  Duration ackWait() {
    return Duration.ZERO;
  }
}

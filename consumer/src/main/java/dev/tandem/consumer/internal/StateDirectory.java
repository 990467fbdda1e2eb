package dev.tandem.consumer.internal;

import dev.tandem.consumer.TandemRegionConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A region's state directory ({@code tandem.state.dir}): its lock, held for the region's life so one
 * process (and one region object) uses it at a time, and the instance id persisted in it.
 */
public final class StateDirectory {

  // the category these lines had before the split (an operator's log config names it)
  private static final Logger log =
      LoggerFactory.getLogger(dev.tandem.consumer.TandemRegion.class);

  /** File in the state directory holding this directory's instance id. */
  public static final String INSTANCE_FILE = "instance.id";
  /** File in the state directory locked while a region uses the directory. */
  public static final String LOCK_FILE = ".lock";

  private StateDirectory() {}

  /** The held lock of a state directory; closing releases it. */
  public record Lock(FileChannel channel, FileLock lock) implements AutoCloseable {
    @Override
    public void close() throws IOException {
      try {
        lock.release();
      } finally {
        channel.close();
      }
    }
  }

  /**
   * Locks {@code <stateDir>/.lock} for this region's life. A second process (or a second region
   * object in this process) on the same directory is refused here, before the instance id file or
   * the store is touched: otherwise two first starts could each create an instance id and the one
   * that wins RocksDB's lock could run under an id the file no longer holds.
   *
   * @throws ConfigException naming {@code tandem.state.dir} when the directory is in use
   */
  public static Lock lock(Path stateDir) {
    Path file = stateDir.resolve(LOCK_FILE);
    FileChannel ch = null;
    try {
      Files.createDirectories(stateDir);
      ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // held by this JVM
      }
      if (lock == null) {
        ch.close();
        throw new ConfigException(TandemRegionConfig.STATE_DIR_CONFIG, stateDir.toString(),
            "the state directory is in use by another Tandem region (its " + file + " is locked); "
                + "each process (and each region object) needs its own state directory");
      }
      return new Lock(ch, lock);
    } catch (IOException e) {
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new UncheckedIOException("cannot lock " + file, e);
    }
  }

  /**
   * The instance id of {@code stateDir}: read from its {@value #INSTANCE_FILE}, or created there on
   * first use as {@code <host>-<8 hex>} (written completely, then linked in without replacing: of
   * two first starts one id wins and both read it). One process at a time uses a state directory
   * (the region holds {@value #LOCK_FILE} before calling this), so the id is unique per process and
   * stable across restarts on the same directory — what a restarted instance needs to recognise its
   * own claims.
   */
  public static String instanceIdOf(Path stateDir) {
    Path file = stateDir.resolve(INSTANCE_FILE);
    try {
      Files.createDirectories(stateDir);
      if (Files.isRegularFile(file)) {
        String id = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (!id.isEmpty() && id.length() <= 128) {
          return id;
        }
        throw new ConfigException(TandemRegionConfig.STATE_DIR_CONFIG, stateDir.toString(),
            file + " holds no valid instance id (1-128 characters); delete it or set "
                + TandemRegionConfig.INSTANCE_CONFIG);
      }
      String host;
      try {
        host = InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        host = "host";
      }
      host = host.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-");
      if (host.length() > 64) {
        host = host.substring(0, 64);
      }
      byte[] random = new byte[4];
      new SecureRandom().nextBytes(random);
      String id = host + "-" + HexFormat.of().formatHex(random);
      Path tmp = Files.createTempFile(stateDir, INSTANCE_FILE, ".tmp");
      try {
        Files.writeString(tmp, id + "\n", StandardCharsets.UTF_8);
        // publish the complete file without ever replacing one: link(2) fails if the name exists,
        // so of two first starts exactly one id wins and the other start reads it
        try {
          Files.createLink(file, tmp);
        } catch (UnsupportedOperationException | FileSystemException e) {
          if (e instanceof FileAlreadyExistsException) {
            throw (FileAlreadyExistsException) e;
          }
          Files.move(tmp, file); // no REPLACE_EXISTING: fails if another start created it
        }
      } catch (FileAlreadyExistsException e) {
        return instanceIdOf(stateDir); // another start won: run as its id
      } finally {
        Files.deleteIfExists(tmp);
      }
      log.info("Tandem instance id {} created in {}", id, file);
      return id;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or create " + file, e);
    }
  }
}

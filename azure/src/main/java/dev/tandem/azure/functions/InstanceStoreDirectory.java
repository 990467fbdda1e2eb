package dev.tandem.azure.functions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where one instance of a function app (or App Service app) keeps its idempotency store: a directory
 * of its own on the instance's <b>local</b> disk, restored from the changelog when the instance
 * starts (the store's restore-before-serve), never on storage shared with other instances.
 *
 * <p>Why: on App Service and Azure Functions, {@code HOME} ({@code /home} on Linux, {@code D:\home}
 * on Windows) is persisted storage <b>shared by every instance</b> of the app (a network file share),
 * so a store directory under it is opened by every instance at once: RocksDB's files and lock are not
 * made for that, and each instance's records would not be its own. Local temporary storage ({@code
 * /tmp} on Linux, {@code %TEMP%} = {@code D:\local\Temp} on Windows) is per instance and reset when
 * the instance restarts — which the changelog restore makes harmless.
 *
 * <pre>{@code
 * InstanceStoreDirectory where = InstanceStoreDirectory.fromEnvironment(System.getenv("TANDEM_STATE_DIR"));
 * IdempotencyStore store = IdempotencyStore.builder().region(region)
 *     .instance(where.instanceName())
 *     .directory(where.directory().resolve("store"))
 *     .build();
 * }</pre>
 *
 * <p>The rules, for a given environment:
 *
 * <ul>
 *   <li>On the platform (where {@value #SITE_NAME} or {@value #INSTANCE_ID} is set) the instance id
 *       is the first set of {@value #INSTANCE_ID} (the App Service / Functions VM instance), {@value
 *       #COMPUTER_NAME}, {@value #CONTAINER_NAME}, and one of them is required. Off the platform
 *       these are not read (a developer machine's {@code COMPUTERNAME} is no instance id): the
 *       instance is {@code local}.
 *   <li>Without a configured directory: {@code <local temp>/tandem/<instance id>} ({@code
 *       <local temp>/tandem/local} off the platform).
 *   <li>{@value #WORKER_PROCESS_COUNT} above 1 is refused with an {@link IllegalStateException}:
 *       the worker processes of one instance share its instance id, so they would open the same
 *       directory (RocksDB's {@code LOCK} error). Run one worker process per instance and scale out
 *       by instances.
 *   <li>With a configured directory on the platform: {@code <configured>/<instance id>}, so that
 *       instances never share one; it must be absolute. Off the platform the configured directory is
 *       used as given (one process, e.g. local development).
 *   <li>A directory under {@code HOME} on the platform is refused with an {@link
 *       IllegalStateException} naming the path and the reason — unless {@value #APP_SERVICE_STORAGE}
 *       is {@code false} (a custom container whose {@code /home} is not the shared share). The paths
 *       are compared after removing {@code .} and {@code ..}, and also after resolving symbolic
 *       links of their nearest existing parent. A {@code HOME} that is the file-system root is not
 *       App Service's shared storage and is not used for the check (a warning is logged). Other
 *       shared mounts (an Azure Files path mapping) cannot be told from the environment: do not point
 *       the store there.
 * </ul>
 */
public final class InstanceStoreDirectory {

  /** App Service / Functions: the unique id of the instance (VM) the app runs on. */
  public static final String INSTANCE_ID = "WEBSITE_INSTANCE_ID";
  /** Windows hosts: the machine name (the .NET worker's fallback for the instance name). */
  public static final String COMPUTER_NAME = "COMPUTERNAME";
  /** Linux containers (e.g. Linux Consumption): the container's name. */
  public static final String CONTAINER_NAME = "CONTAINER_NAME";
  /** App Service / Functions: the app's name; set on the platform only. */
  public static final String SITE_NAME = "WEBSITE_SITE_NAME";
  /** {@code false} for a custom container whose {@code /home} is not the shared storage. */
  public static final String APP_SERVICE_STORAGE = "WEBSITES_ENABLE_APP_SERVICE_STORAGE";
  /** Azure Functions: the number of language worker processes per instance (default 1). */
  public static final String WORKER_PROCESS_COUNT = "FUNCTIONS_WORKER_PROCESS_COUNT";

  private static final Logger LOG = LoggerFactory.getLogger(InstanceStoreDirectory.class);
  private static final int MAX_KEY = 64;

  private final Path directory;
  private final String instanceId;
  private final boolean onPlatform;

  private InstanceStoreDirectory(Path directory, String instanceId, boolean onPlatform) {
    this.directory = directory;
    this.instanceId = instanceId;
    this.onPlatform = onPlatform;
  }

  /**
   * {@link #resolve} with this process's environment and {@code java.io.tmpdir} as the local temp
   * directory (on App Service: {@code /tmp} on Linux, {@code D:\local\Temp} on Windows).
   *
   * @param configured the configured directory, or null/blank for the default
   */
  public static InstanceStoreDirectory fromEnvironment(String configured) {
    return resolve(System.getenv()::get, configured, Path.of(System.getProperty("java.io.tmpdir")));
  }

  /**
   * Resolves this instance's store directory (see the class doc for the rules) and logs it.
   *
   * @param env the environment (app settings and platform variables)
   * @param configured the configured directory, or null/blank for the default
   * @param localTemp this instance's local temporary directory
   * @throws IllegalStateException when the directory would be on storage shared by the app's
   *     instances, or relative on the platform, or when the platform gives no instance id, or when
   *     {@value #WORKER_PROCESS_COUNT} is above 1 (or not a number)
   */
  public static InstanceStoreDirectory resolve(Function<String, String> env, String configured,
      Path localTemp) {
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(localTemp, "localTemp");
    checkOneWorkerProcess(env);
    boolean onPlatform = onPlatform(env);
    String instanceId = instanceId(env);
    if (onPlatform && instanceId == null) {
      throw new IllegalStateException("cannot tell this instance from the app's other instances: "
          + "none of " + INSTANCE_ID + ", " + COMPUTER_NAME + ", " + CONTAINER_NAME + " is set, so "
          + "they would share one store directory; set " + INSTANCE_ID);
    }
    String key = instanceId == null ? "local" : pathKey(instanceId);
    Path directory;
    if (present(configured)) {
      Path base = Path.of(configured.strip());
      if (onPlatform && !isAbsolute(configured.strip())) {
        throw new IllegalStateException("the store directory " + configured.strip() + " is "
            + "relative: on App Service / Functions the working directory is the app's content, on "
            + "storage shared by every instance; give an absolute path on the instance's local disk");
      }
      directory = onPlatform ? base.resolve(key) : base;
    } else {
      directory = localTemp.resolve("tandem").resolve(key);
    }
    if (onPlatform) {
      for (String shared : sharedRoots(env)) {
        if (isUnder(directory.toString(), shared) || isUnderReal(directory.toString(), shared)) {
          throw new IllegalStateException("the store directory " + directory + " is on storage "
              + "shared by every instance of the app (" + shared + ", HOME on App Service / "
              + "Functions, a network share): every instance would open the same RocksDB files. "
              + "Use the instance's local disk (the default, " + localTemp.resolve("tandem")
              + "/<instance id>, restored from the changelog at start)");
        }
      }
    }
    LOG.info("Tandem store directory of instance {}: {} (local to the instance; "
        + "restored from the changelog when it starts)", key, directory);
    return new InstanceStoreDirectory(directory, instanceId, onPlatform);
  }

  /** This instance's own store directory. */
  public Path directory() {
    return directory;
  }

  /**
   * The instance's name for the store's owner identity: the platform's instance id (at most 64
   * characters), or {@code local} off the platform.
   */
  public String instanceName() {
    if (instanceId == null) {
      return "local";
    }
    return instanceId.length() > MAX_KEY ? instanceId.substring(0, MAX_KEY) : instanceId;
  }

  /**
   * The instance's name for the store's owner identity in {@code env}, as {@link #instanceName()}:
   * on the platform the first set of {@value #INSTANCE_ID}, {@value #COMPUTER_NAME}, {@value
   * #CONTAINER_NAME} (at most 64 characters); off the platform, or with none set, {@code local}.
   */
  public static String instanceName(Function<String, String> env) {
    return new InstanceStoreDirectory(null, instanceId(env), false).instanceName();
  }

  private static boolean onPlatform(Function<String, String> env) {
    return present(env.apply(SITE_NAME)) || present(env.apply(INSTANCE_ID));
  }

  /** The platform's instance id; null off the platform (the instance is then {@code local}). */
  private static String instanceId(Function<String, String> env) {
    return onPlatform(env) ? firstPresent(env, INSTANCE_ID, COMPUTER_NAME, CONTAINER_NAME) : null;
  }

  /**
   * Refuses more than one worker process per instance: they share the instance id, hence the
   * directory, and the second would fail on RocksDB's LOCK file with a message naming nothing.
   */
  private static void checkOneWorkerProcess(Function<String, String> env) {
    String count = strip(env.apply(WORKER_PROCESS_COUNT));
    if (!present(count)) {
      return;
    }
    int n;
    try {
      n = Integer.parseInt(count);
    } catch (NumberFormatException e) {
      throw new IllegalStateException(WORKER_PROCESS_COUNT + " is not a number: " + count, e);
    }
    if (n > 1) {
      throw new IllegalStateException(WORKER_PROCESS_COUNT + " = " + n + ": Tandem needs one worker "
          + "process per instance. The worker processes of an instance share its instance id, so "
          + "they would open the same store directory (RocksDB allows one process: LOCK error). "
          + "Remove the setting or set it to 1, and scale out by instances");
    }
  }

  /** Whether the environment is App Service / Azure Functions. */
  public boolean onPlatform() {
    return onPlatform;
  }

  @Override
  public String toString() {
    return "InstanceStoreDirectory[" + directory + ", instance " + instanceName() + "]";
  }

  /** The roots shared by the app's instances: HOME on the platform, unless its storage is off. */
  private static List<String> sharedRoots(Function<String, String> env) {
    List<String> roots = new ArrayList<>();
    if ("false".equalsIgnoreCase(strip(env.apply(APP_SERVICE_STORAGE)))) {
      return roots; // a custom container without the shared /home
    }
    String home = strip(env.apply("HOME"));
    if (present(home)) {
      if (isFileSystemRoot(home)) {
        // not App Service's shared /home (D:\home): judging by it would refuse every directory
        LOG.warn("HOME is the file-system root ({}): not App Service's shared "
            + "storage; the store directory is not checked against it", home);
      } else {
        roots.add(home);
      }
    }
    return roots;
  }

  private static boolean isFileSystemRoot(String path) {
    String n = normalize(path);
    return n.equals("/") || n.isEmpty() || (n.length() <= 3 && n.length() >= 2 && n.charAt(1) == ':');
  }

  /**
   * {@link #isUnder} on this machine's file system: both paths with the symbolic links of their
   * nearest existing parent resolved. False when either is not an absolute path here (e.g. a Windows
   * path judged on Linux: the text comparison covers it).
   */
  static boolean isUnderReal(String path, String root) {
    try {
      Path p = Path.of(path);
      Path r = Path.of(root);
      if (!p.isAbsolute() || !r.isAbsolute()) {
        return false;
      }
      return isUnder(real(p).toString(), real(r).toString());
    } catch (InvalidPathException | IOException | SecurityException e) {
      return false; // the text comparison stands
    }
  }

  /** The path with its nearest existing parent's real path (symbolic links resolved). */
  private static Path real(Path path) throws IOException {
    Path p = path.normalize();
    Path existing = p;
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null) {
      return p;
    }
    return existing.toRealPath().resolve(existing.relativize(p));
  }

  /**
   * Whether {@code path} is {@code root} or under it; compared as text so that a Windows path is
   * judged right on any JVM ({@code \} and {@code /} alike, case-insensitive for drive paths), after
   * removing {@code .} and {@code ..} elements.
   */
  static boolean isUnder(String path, String root) {
    String p = normalize(path);
    String r = normalize(root);
    if (r.isEmpty()) {
      return false;
    }
    if (r.endsWith("/")) {
      r = r.substring(0, r.length() - 1);
    }
    if (r.isEmpty()) {
      return true; // the file system root
    }
    return p.equals(r) || p.startsWith(r + "/");
  }

  private static String normalize(String path) {
    String s = path.strip().replace('\\', '/');
    boolean drive = s.length() >= 2 && s.charAt(1) == ':';
    String prefix = drive ? s.substring(0, 2) : "";
    String rest = drive ? s.substring(2) : s;
    boolean absolute = rest.startsWith("/");
    List<String> names = new ArrayList<>();
    for (String e : rest.split("/")) {
      if (e.isEmpty() || e.equals(".")) {
        continue;
      }
      if (e.equals("..") && !names.isEmpty() && !names.get(names.size() - 1).equals("..")) {
        names.remove(names.size() - 1);
      } else if (!(e.equals("..") && absolute)) { // ".." above the root is the root
        names.add(e);
      }
    }
    String n = prefix + (absolute ? "/" : "") + String.join("/", names);
    return drive ? n.toLowerCase(Locale.ROOT) : n;
  }

  private static boolean isAbsolute(String path) {
    String s = path.replace('\\', '/');
    return s.startsWith("/") || (s.length() >= 3 && s.charAt(1) == ':' && s.charAt(2) == '/');
  }

  /** The instance id as one path element: unsafe characters replaced, at most 64 characters. */
  static String pathKey(String instanceId) {
    StringBuilder b = new StringBuilder();
    for (char c : instanceId.strip().toCharArray()) {
      b.append(Character.isLetterOrDigit(c) && c < 128 || c == '-' || c == '_' || c == '.' ? c : '_');
    }
    String k = b.toString();
    if (k.chars().allMatch(c -> c == '.')) {
      k = "_" + k; // never "." or ".."
    }
    return k.length() > MAX_KEY ? k.substring(0, MAX_KEY) : k;
  }

  private static String firstPresent(Function<String, String> env, String... names) {
    for (String n : names) {
      String v = strip(env.apply(n));
      if (present(v)) {
        return v;
      }
    }
    return null;
  }

  private static boolean present(String v) {
    return v != null && !v.isBlank();
  }

  private static String strip(String v) {
    return v == null ? null : v.strip();
  }
}

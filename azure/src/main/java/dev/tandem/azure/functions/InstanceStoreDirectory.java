package dev.tandem.azure.functions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

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
 * InstanceStoreDirectory where = InstanceStoreDirectory.fromEnvironment(System.getenv("TANDEM_STORE_DIR"));
 * IdempotencyStore store = IdempotencyStore.builder().region(region)
 *     .instance(where.instanceName())
 *     .directory(where.directory().resolve("store"))
 *     .build();
 * }</pre>
 *
 * <p>The rules, for a given environment:
 *
 * <ul>
 *   <li>The instance id is the first set of {@value #INSTANCE_ID} (the App Service / Functions VM
 *       instance), {@value #COMPUTER_NAME}, {@value #CONTAINER_NAME}; on the platform (where {@value
 *       #SITE_NAME} is set) one of them is required.
 *   <li>Without a configured directory: {@code <local temp>/tandem/<instance id>} ({@code
 *       <local temp>/tandem/local} off the platform).
 *   <li>With a configured directory on the platform: {@code <configured>/<instance id>}, so that
 *       instances never share one; it must be absolute. Off the platform the configured directory is
 *       used as given (one process, e.g. local development).
 *   <li>A directory under {@code HOME} on the platform is refused with an {@link
 *       IllegalStateException} naming the path and the reason — unless {@value #APP_SERVICE_STORAGE}
 *       is {@code false} (a custom container whose {@code /home} is not the shared share). Other
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

  private static final Logger LOG = Logger.getLogger(InstanceStoreDirectory.class.getName());
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
   *     instances, or relative on the platform, or when the platform gives no instance id
   */
  public static InstanceStoreDirectory resolve(Function<String, String> env, String configured,
      Path localTemp) {
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(localTemp, "localTemp");
    boolean onPlatform = present(env.apply(SITE_NAME)) || present(env.apply(INSTANCE_ID));
    String instanceId = firstPresent(env, INSTANCE_ID, COMPUTER_NAME, CONTAINER_NAME);
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
        if (isUnder(directory.toString(), shared)) {
          throw new IllegalStateException("the store directory " + directory + " is on storage "
              + "shared by every instance of the app (" + shared + ", HOME on App Service / "
              + "Functions, a network share): every instance would open the same RocksDB files. "
              + "Use the instance's local disk (the default, " + localTemp.resolve("tandem")
              + "/<instance id>, restored from the changelog at start)");
        }
      }
    }
    LOG.log(Level.INFO, "Tandem store directory of instance {0}: {1} (local to the instance; "
        + "restored from the changelog when it starts)", new Object[] {key, directory});
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
   * the first set of {@value #INSTANCE_ID}, {@value #COMPUTER_NAME}, {@value #CONTAINER_NAME} (at
   * most 64 characters), else {@code local}.
   */
  public static String instanceName(Function<String, String> env) {
    return new InstanceStoreDirectory(null,
        firstPresent(env, INSTANCE_ID, COMPUTER_NAME, CONTAINER_NAME), false).instanceName();
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
      roots.add(home);
    }
    return roots;
  }

  /**
   * Whether {@code path} is {@code root} or under it; compared as text so that a Windows path is
   * judged right on any JVM ({@code \} and {@code /} alike, case-insensitive for drive paths).
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
    while (s.contains("//")) {
      s = s.replace("//", "/");
    }
    if (s.length() > 1 && s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    boolean drive = s.length() >= 2 && s.charAt(1) == ':';
    return drive ? s.toLowerCase(Locale.ROOT) : s;
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

package dev.tandem.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The network link into one region from the other regions: a TCP proxy in front of the broker's
 * {@code PEER} listener, whose advertised address is this proxy, so Kafka clients that bootstrap
 * through it also reconnect through it. {@link #cut()} makes a real partition on this path only:
 * every open connection is closed and new connections are closed right after they are accepted
 * (clients fail fast, as on a refused route); {@link #heal()} forwards again. The region's direct
 * {@link KafkaRegion#bootstrapServers()} is never affected.
 *
 * <p>Plain blocking sockets, daemon threads: one accept thread, two pump threads per connection.
 */
public final class RegionLink implements AutoCloseable {

  private static final String HOST = "localhost";
  private static final int CONNECT_TIMEOUT_MS = 5_000;
  private static final int BUFFER_BYTES = 64 * 1024;

  private final String name;
  private final ServerSocket server;
  private final Set<Connection> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong refused = new AtomicLong();
  private final AtomicLong bytes = new AtomicLong();
  // Invariant: cut is set BEFORE open connections are closed, and a connection registers in `open`
  // BEFORE it checks cut; so every connection is either closed by cut() or sees the flag itself.
  private volatile boolean cut;
  private volatile boolean closed;
  // The broker's PEER listener port; 0 while unknown (before start-up). Re-pointed after a restart.
  private volatile int upstreamPort;

  private RegionLink(String name, ServerSocket server) {
    this.name = name;
    this.server = server;
  }

  /** Binds the proxy's port (known before the broker starts, so it can be advertised). */
  static RegionLink open(String name) {
    try {
      ServerSocket server = new ServerSocket();
      server.setReuseAddress(true);
      server.bind(new InetSocketAddress(HOST, 0));
      RegionLink link = new RegionLink(name, server);
      Thread acceptor = new Thread(link::acceptLoop, "region-link-" + name + "-accept");
      acceptor.setDaemon(true);
      acceptor.start();
      return link;
    } catch (IOException e) {
      throw new IllegalStateException("could not open the link into " + name, e);
    }
  }

  /** Points the link at the broker's {@code PEER} listener (after start-up and after a restart). */
  void forwardTo(int brokerPeerPort) {
    this.upstreamPort = brokerPeerPort;
  }

  /** The region this link leads into. */
  public String name() {
    return name;
  }

  /** The proxy's port; the broker advertises {@code localhost:port()} on its PEER listener. */
  public int port() {
    return server.getLocalPort();
  }

  /** {@code localhost:port} — a bootstrap address whose every connection runs through this link. */
  public String address() {
    return HOST + ":" + port();
  }

  /**
   * Cuts the link: closes every open connection through it and closes new ones right after accept,
   * until {@link #heal()}. Idempotent. Returns once the open connections are closed.
   */
  public void cut() {
    cut = true;
    for (Connection c : open) {
      c.close();
    }
  }

  /** Forwards new connections again. Idempotent. */
  public void heal() {
    cut = false;
  }

  /** Whether the link is cut. */
  public boolean isCut() {
    return cut;
  }

  /** Connections forwarded to the broker so far. */
  public long forwardedConnections() {
    return accepted.get();
  }

  /** Connections closed right after accept (link cut, or the broker unreachable). */
  public long refusedConnections() {
    return refused.get();
  }

  /** Bytes copied in both directions so far. */
  public long forwardedBytes() {
    return bytes.get();
  }

  /** Connections open through the link right now. */
  public int openConnections() {
    return open.size();
  }

  /** Stops accepting and closes every connection. */
  @Override
  public void close() {
    closed = true;
    cut = true;
    closeQuietly(server);
    for (Connection c : open) {
      c.close();
    }
  }

  @Override
  public String toString() {
    return "RegionLink[" + name + " " + address() + " -> " + HOST + ":" + upstreamPort
        + (cut ? ", cut" : "") + "]";
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        if (closed) {
          return;
        }
        continue; // a transient accept failure must not end the link
      }
      if (cut || upstreamPort == 0) {
        refused.incrementAndGet();
        closeQuietly(client);
        continue;
      }
      // Connecting can block for the timeout: do it off the accept thread.
      Thread opener = new Thread(() -> connect(client), "region-link-" + name + "-conn");
      opener.setDaemon(true);
      opener.start();
    }
  }

  private void connect(Socket client) {
    Socket upstream = new Socket();
    try {
      upstream.setTcpNoDelay(true);
      client.setTcpNoDelay(true);
      upstream.connect(new InetSocketAddress(HOST, upstreamPort), CONNECT_TIMEOUT_MS);
    } catch (IOException e) {
      // The broker is down: the client sees its connection closed, as it would by a dead broker.
      refused.incrementAndGet();
      closeQuietly(client);
      closeQuietly(upstream);
      return;
    }
    Connection c = new Connection(client, upstream);
    open.add(c);
    if (cut) { // cut() may have run between accept and add: see the invariant on `cut`
      c.close();
      refused.incrementAndGet();
      return;
    }
    accepted.incrementAndGet();
    Thread back = new Thread(() -> c.pump(upstream, client), "region-link-" + name + "-in");
    back.setDaemon(true);
    back.start();
    c.pump(client, upstream); // this thread pumps client -> broker
  }

  /** One proxied connection; closing either socket ends both pumps. */
  private final class Connection {
    private final Socket client;
    private final Socket upstream;
    private final AtomicBoolean closedOnce = new AtomicBoolean();

    Connection(Socket client, Socket upstream) {
      this.client = client;
      this.upstream = upstream;
    }

    void pump(Socket from, Socket to) {
      byte[] buf = new byte[BUFFER_BYTES];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        int n;
        while ((n = in.read(buf)) >= 0) {
          out.write(buf, 0, n);
          bytes.addAndGet(n);
        }
      } catch (IOException e) {
        // closed by cut(), close() or the other side: any failure ends the whole connection
      } finally {
        close();
      }
    }

    void close() {
      if (closedOnce.compareAndSet(false, true)) {
        open.remove(this);
        closeQuietly(client);
        closeQuietly(upstream);
      }
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // closing on the way out: nothing to do
    }
  }
}

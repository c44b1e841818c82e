// AsyncGet: a Java NIO HTTP client for tests/integration/async.sh (issue 13): one thread, one Selector, a
// non-blocking SocketChannel to every host at once, an HTTP GET on each, every response read to its end.
//
//	java AsyncGet [--tick-ms MS] [--limit-s S] PORT HOST...
//
// The names are resolved first (InetSocketAddress: getaddrinfo through libnet; under torwrap, virtual
// addresses), then every connect goes out back to back (SocketChannel.connect on a non-blocking channel,
// OP_CONNECT, finishConnect). The selector's loop wakes at least every MS milliseconds (default 10) and records
// a tick each time that much has passed since the last one, from before the first connect to the end: a loop
// frozen inside connect() records none.
//
// Prints one JSON object: {"start": T, "end": T, "ticks": [T...], "results": [{"host", "ok": true, "body"} or
// {"host", "ok": false, "op", "error", "detail"}...]} (T: seconds since the epoch). "error" is the errno name
// the exception's message stands for (ECONNREFUSED for "Connection refused"...), or the exception's class;
// "op" is connect, write or read. Connections not done after S seconds (default 30) fail with op "limit".
// Compiled at test time into the test's work directory (javac -d DIR AsyncGet.java); nothing is committed.
// Exit status 0 when every connection was ok, 2 otherwise.
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

public final class AsyncGet {
	private static final class Conn {
		final String host;
		SocketChannel ch;
		ByteBuffer out;
		final ByteArrayOutputStream in = new ByteArrayOutputStream();
		String op = "connect";
		boolean done;
		String result; // the JSON object

		Conn(String host) {
			this.host = host;
		}
	}

	private static double now() {
		Instant t = Instant.now();
		return t.getEpochSecond() + t.getNano() / 1e9;
	}

	private static String json(String s) {
		StringBuilder b = new StringBuilder("\"");
		for (char c : s.toCharArray()) {
			if (c == '"' || c == '\\') {
				b.append('\\').append(c);
			} else if (c < 0x20 || c >= 0x7f) {
				b.append(String.format("\\u%04x", (int) c));
			} else {
				b.append(c);
			}
		}
		return b.append('"').toString();
	}

	private static String errno(Exception e) {
		String m = String.valueOf(e.getMessage());
		String[][] table = {
			{"Connection refused", "ECONNREFUSED"}, {"No route to host", "EHOSTUNREACH"},
			{"Network is unreachable", "ENETUNREACH"}, {"Connection timed out", "ETIMEDOUT"},
			{"Connection reset", "ECONNRESET"}, {"Broken pipe", "EPIPE"}, {"Host is down", "EHOSTDOWN"},
			{"Permission denied", "EACCES"}, {"Operation not permitted", "EPERM"},
			{"Protocol error", "EPROTO"}, {"Timer expired", "ETIME"},
		};
		for (String[] t : table) {
			if (m.contains(t[0])) {
				return t[1];
			}
		}
		return e.getClass().getSimpleName();
	}

	private static void fail(Conn c, Exception e) {
		c.done = true;
		c.result = "{\"host\": " + json(c.host) + ", \"ok\": false, \"op\": \"" + c.op + "\", \"error\": \""
			+ errno(e) + "\", \"detail\": " + json(e.getClass().getSimpleName() + ": " + e.getMessage()) + "}";
		System.err.println("AsyncGet: " + c.host + ": " + c.op + ": " + errno(e) + " (" + e + ")");
		try {
			c.ch.close();
		} catch (Exception ignored) {
			// closing is all that is left to do
		}
	}

	private static void finish(Conn c) throws Exception {
		c.done = true;
		c.ch.close();
		String text = c.in.toString(StandardCharsets.UTF_8);
		int i = text.indexOf("\r\n\r\n");
		if (!text.startsWith("HTTP/1.") || i < 0 || i + 4 >= text.length()) {
			c.result = "{\"host\": " + json(c.host) + ", \"ok\": false, \"op\": \"response\", \"error\": \""
				+ (i < 0 ? "not-http" : "no-body") + "\"}";
			return;
		}
		c.result = "{\"host\": " + json(c.host) + ", \"ok\": true, \"body\": " + json(text.substring(i + 4)) + "}";
	}

	public static void main(String[] args) throws Exception {
		int tickMs = 10;
		double limitS = 30;
		int a = 0;
		while (a < args.length && args[a].startsWith("--")) {
			if (args[a].equals("--tick-ms")) {
				tickMs = Integer.parseInt(args[a + 1]);
			} else if (args[a].equals("--limit-s")) {
				limitS = Double.parseDouble(args[a + 1]);
			} else {
				usage();
			}
			a += 2;
		}
		if (args.length - a < 2) {
			usage();
		}
		int port = Integer.parseInt(args[a++]);
		List<Conn> conns = new ArrayList<>();
		List<InetSocketAddress> addrs = new ArrayList<>();
		for (; a < args.length; a++) {
			conns.add(new Conn(args[a]));
			addrs.add(new InetSocketAddress(args[a], port));
		}
		Selector sel = Selector.open();
		List<Double> ticks = new ArrayList<>();
		double start = now();
		double lastTick = start;
		for (int k = 0; k < conns.size(); k++) {
			Conn c = conns.get(k);
			c.out = ByteBuffer.wrap(("GET / HTTP/1.0\r\nHost: " + c.host + "\r\nConnection: close\r\n\r\n")
				.getBytes(StandardCharsets.US_ASCII));
			try {
				c.ch = SocketChannel.open();
				c.ch.configureBlocking(false);
				if (addrs.get(k).isUnresolved()) {
					throw new java.net.UnknownHostException(c.host);
				}
				boolean now = c.ch.connect(addrs.get(k));
				if (now) {
					c.op = "write";
				}
				c.ch.register(sel, now ? SelectionKey.OP_WRITE : SelectionKey.OP_CONNECT, c);
			} catch (Exception e) {
				fail(c, e);
			}
		}
		double limit = start + limitS;
		while (true) {
			boolean open = false;
			for (Conn c : conns) {
				open |= !c.done;
			}
			if (!open) {
				break;
			}
			double t = now();
			if (t >= limit) {
				break;
			}
			long wait = Math.max(1, (long) Math.ceil((lastTick + tickMs / 1000.0 - t) * 1000));
			sel.select(wait);
			t = now();
			if (t - lastTick >= tickMs / 1000.0) {
				ticks.add(t);
				lastTick = t;
			}
			Iterator<SelectionKey> it = sel.selectedKeys().iterator();
			while (it.hasNext()) {
				SelectionKey key = it.next();
				it.remove();
				Conn c = (Conn) key.attachment();
				try {
					if (key.isConnectable()) {
						c.ch.finishConnect();
						c.op = "write";
						key.interestOps(SelectionKey.OP_WRITE);
					} else if (key.isWritable()) {
						c.ch.write(c.out);
						if (!c.out.hasRemaining()) {
							c.op = "read";
							key.interestOps(SelectionKey.OP_READ);
						}
					} else if (key.isReadable()) {
						ByteBuffer buf = ByteBuffer.allocate(65536);
						int n;
						while ((n = c.ch.read(buf)) > 0) {
							c.in.write(buf.array(), 0, n);
							buf.clear();
						}
						if (n < 0) {
							finish(c);
						}
					}
				} catch (Exception e) {
					fail(c, e);
				}
			}
		}
		double end = now();
		StringBuilder out = new StringBuilder();
		out.append(String.format("{\"start\": %.6f, \"end\": %.6f, \"ticks\": [", start, end));
		for (int i = 0; i < ticks.size(); i++) {
			out.append(i > 0 ? ", " : "").append(String.format("%.6f", ticks.get(i)));
		}
		out.append("], \"results\": [");
		boolean allOk = true;
		for (int i = 0; i < conns.size(); i++) {
			Conn c = conns.get(i);
			if (!c.done) {
				c.result = "{\"host\": " + json(c.host) + ", \"ok\": false, \"op\": \"limit\", \"error\": \"limit\"}";
				System.err.println("AsyncGet: " + c.host + ": limit");
			}
			allOk &= c.result.contains("\"ok\": true");
			out.append(i > 0 ? ", " : "").append(c.result);
		}
		out.append("]}");
		System.out.println(out);
		System.exit(allOk ? 0 : 2);
	}

	private static void usage() {
		System.err.println("usage: java AsyncGet [--tick-ms MS] [--limit-s S] PORT HOST...");
		System.exit(1);
	}
}

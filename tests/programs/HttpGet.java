// HttpGet: a Java client for the leak test (scripts/leak-test, the `java` row) and tests/integration/java.sh.
// The JDK's own networking, as a Java service uses it: names resolved by InetAddress (getaddrinfo, through
// libnet), connections made by the NIO socket implementation, no proxy of Java's own.
//
//	java HttpGet get URL          prints the body of an HTTP GET (java.net.HttpURLConnection)
//	java HttpGet udp HOST PORT    sends one datagram (DatagramSocket, unconnected: sendto names the address);
//	                              prints "sent"
//
// Compiled at test time into the test's work directory (javac -d DIR HttpGet.java); nothing is committed.
// Its own limits (connect 5 s, read 5 s) fit in the leak test's 15 s per cell with the JVM's start-up.
// Exit status 0 on success, 2 on failure (the exception on stderr).
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public final class HttpGet {
	private static final int TIMEOUT_MS = 5000;

	private static String get(String url) throws Exception {
		// Proxy.NO_PROXY: Java's own proxy settings (system properties) never apply; torwrap routes it.
		HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection(Proxy.NO_PROXY);
		c.setConnectTimeout(TIMEOUT_MS);
		c.setReadTimeout(TIMEOUT_MS);
		c.setUseCaches(false);
		c.setRequestProperty("Connection", "close");
		int code = c.getResponseCode();
		if (code != HttpURLConnection.HTTP_OK) {
			throw new Exception("HTTP " + code + " from " + url);
		}
		ByteArrayOutputStream body = new ByteArrayOutputStream();
		try (InputStream in = c.getInputStream()) {
			in.transferTo(body);
		}
		c.disconnect();
		return body.toString(StandardCharsets.UTF_8);
	}

	private static void udp(String host, int port) throws Exception {
		byte[] data = "twlt datagram\n".getBytes(StandardCharsets.US_ASCII);
		try (DatagramSocket s = new DatagramSocket()) {
			s.send(new DatagramPacket(data, data.length, InetAddress.getByName(host), port));
		}
		System.out.println("sent");
	}

	public static void main(String[] args) {
		try {
			if (args.length == 2 && args[0].equals("get")) {
				System.out.print(get(args[1]));
			} else if (args.length == 3 && args[0].equals("udp")) {
				udp(args[1], Integer.parseInt(args[2]));
			} else {
				System.err.println("usage: java HttpGet get URL | udp HOST PORT");
				System.exit(1);
			}
		} catch (Exception e) {
			System.err.println("HttpGet: " + e);
			System.exit(2);
		}
		System.out.flush();
	}
}

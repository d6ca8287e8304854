package org.pocketmt.engine.pipe;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;
import org.pocketmt.engine.search.Step;

/**
 * A {@link Step} answered by the Python step server ({@code runtime/step_server.py}) over two byte
 * streams, in the format its docstring and docs/bundle.md ("The step server") describe:
 * little-endian int32 and float32, a status byte before every reply.
 */
public final class PipeStep implements Step, AutoCloseable {
    static final byte[] MAGIC = "PMTS".getBytes(StandardCharsets.US_ASCII);
    static final int PROTOCOL_VERSION = 1;

    /** What the server said in its handshake. */
    public record Handshake(int vocabSize, int maxSourceLen, int maxTargetLen, int maxBatch) {}

    private final InputStream in;
    private final OutputStream out;
    private final Supplier<String> whyGone; // a line about the server when the stream ends (exit code, stderr)
    private final Handshake handshake;
    private byte[] replyBytes = new byte[0];
    private boolean closed;

    /** Reads the handshake from {@code in}; a refusal or an early end is a {@link PipeException}. */
    public PipeStep(InputStream in, OutputStream out, Supplier<String> whyGone) {
        this.in = new BufferedInputStream(in, 1 << 16);
        this.out = new BufferedOutputStream(out, 1 << 12);
        this.whyGone = whyGone;
        try {
            expectOk();
            byte[] magic = readBytes(4);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new PipeException("the step server's first bytes are not its handshake (wrong program?)");
            }
            ByteBuffer b = ByteBuffer.wrap(readBytes(20)).order(ByteOrder.LITTLE_ENDIAN);
            int version = b.getInt();
            if (version != PROTOCOL_VERSION) {
                throw new PipeException("step server speaks protocol " + version + ", this engine "
                        + PROTOCOL_VERSION + " (python and engine from different pocketmt versions?)");
            }
            handshake = new Handshake(b.getInt(), b.getInt(), b.getInt(), b.getInt());
        } catch (IOException e) {
            throw gone(e);
        }
    }

    public Handshake handshake() {
        return handshake;
    }

    @Override
    public int vocabSize() {
        return handshake.vocabSize();
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        sendCounted('S', sourceIds, rows);
        awaitOk();
    }

    @Override
    public float[] step(int[] tokens) {
        sendCounted('D', tokens);
        try {
            expectOk();
            ByteBuffer shape = ByteBuffer.wrap(readBytes(8)).order(ByteOrder.LITTLE_ENDIAN);
            int rows = shape.getInt();
            int width = shape.getInt();
            if (rows != tokens.length || width != handshake.vocabSize()) {
                throw new PipeException("step server answered " + rows + " x " + width + " log-probs for "
                        + tokens.length + " x " + handshake.vocabSize());
            }
            int n = rows * width;
            if (replyBytes.length != 4 * n) {
                replyBytes = new byte[4 * n];
            }
            readFully(replyBytes);
            float[] logProbs = new float[n];
            ByteBuffer.wrap(replyBytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(logProbs);
            return logProbs;
        } catch (IOException e) {
            throw gone(e);
        }
    }

    @Override
    public void reorder(int[] parents) {
        sendCounted('R', parents);
        awaitOk();
    }

    /** One request: the leading ints (if any), then the count of {@code values} and the values. */
    private void sendCounted(char op, int[] values, int... lead) {
        ByteBuffer b = request(op, 4 * (lead.length + 1 + values.length));
        for (int x : lead) {
            b.putInt(x);
        }
        b.putInt(values.length);
        for (int v : values) {
            b.putInt(v);
        }
        send(b);
    }

    private void awaitOk() {
        try {
            expectOk();
        } catch (IOException e) {
            throw gone(e);
        }
    }

    /** Asks the server to quit and closes the streams; the caller waits for the process. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.write('Q');
            out.flush();
        } catch (IOException e) {
            // the server is already gone: nothing to tell it
        }
        try {
            out.close();
            in.close();
        } catch (IOException e) {
            // closing a dead pipe: nothing to do
        }
    }

    private ByteBuffer request(char op, int payload) {
        if (closed) {
            throw new PipeException("step server already closed");
        }
        ByteBuffer b = ByteBuffer.allocate(1 + payload).order(ByteOrder.LITTLE_ENDIAN);
        return b.put((byte) op);
    }

    private void send(ByteBuffer b) {
        try {
            out.write(b.array(), 0, b.position());
            out.flush();
        } catch (IOException e) {
            throw gone(e);
        }
    }

    private void expectOk() throws IOException {
        int status = in.read();
        if (status == 0) {
            return;
        }
        if (status == 1) {
            int n = ByteBuffer.wrap(readBytes(4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (n < 0 || n > 1 << 20) {
                throw new PipeException("step server sent a garbled error message");
            }
            throw new PipeException(new String(readBytes(n), StandardCharsets.UTF_8));
        }
        if (status < 0) {
            throw new EOFException();
        }
        throw new PipeException("step server sent status " + status + " (stream out of step)");
    }

    private byte[] readBytes(int n) throws IOException {
        byte[] b = new byte[n];
        readFully(b);
        return b;
    }

    private void readFully(byte[] b) throws IOException {
        for (int off = 0; off < b.length; ) {
            int n = in.read(b, off, b.length - off);
            if (n < 0) {
                throw new EOFException();
            }
            off += n;
        }
    }

    private PipeException gone(IOException e) {
        closed = true;
        String why = whyGone.get();
        return new PipeException("step server stopped" + (why.isEmpty() ? "" : ": " + why), e);
    }
}

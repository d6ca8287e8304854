package org.pocketmt.engine.pipe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.bundle.Bundle;
import org.junit.jupiter.api.Test;

/** The Java end of the wire format, against scripted server replies (the real server: tests/test_step_server.py). */
class PipeStepTest {
    static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static byte[] handshake(int vocab) {
        ByteBuffer b = le(25).put((byte) 0).put("PMTS".getBytes(StandardCharsets.US_ASCII));
        return b.putInt(1).putInt(vocab).putInt(16).putInt(8).putInt(4).array();
    }

    static byte[] error(String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        return le(5 + m.length).put((byte) 1).putInt(m.length).put(m).array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static PipeStep pipe(byte[] replies, ByteArrayOutputStream requests) {
        return new PipeStep(new ByteArrayInputStream(replies), requests, () -> "exited with code 3: boom");
    }

    @Test
    void readsTheHandshakeAndOneStep() {
        ByteBuffer logProbs = le(9 + 2 * 3 * 4).put((byte) 0).putInt(2).putInt(3);
        for (float f : new float[] {-1f, -2f, -3f, -0.5f, Float.NEGATIVE_INFINITY, -7f}) {
            logProbs.putFloat(f);
        }
        ByteArrayOutputStream requests = new ByteArrayOutputStream();
        PipeStep step = pipe(concat(handshake(3), new byte[] {0}, logProbs.array(), new byte[] {0}), requests);
        assertEquals(new PipeStep.Handshake(3, 16, 8, 4), step.handshake());
        step.start(new int[] {5, 0}, 2);
        assertArrayEquals(new float[] {-1f, -2f, -3f, -0.5f, Float.NEGATIVE_INFINITY, -7f}, step.step(new int[] {2, 2}));
        step.reorder(new int[] {1, 1});
        step.close();
        ByteBuffer sent = ByteBuffer.wrap(requests.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals('S', sent.get());
        assertEquals(2, sent.getInt());
        assertEquals(2, sent.getInt());
        assertEquals(5, sent.getInt());
        assertEquals(0, sent.getInt());
        assertEquals('D', sent.get());
        assertEquals(2, sent.getInt());
        sent.getInt();
        sent.getInt();
        assertEquals('R', sent.get());
        sent.position(sent.position() + 12);
        assertEquals('Q', sent.get());
    }

    @Test
    void aServerErrorIsAOneLineException() {
        PipeStep step = pipe(concat(handshake(3), error("source must have 1..16 ids, got 20")), new ByteArrayOutputStream());
        PipeException e = assertThrows(PipeException.class, () -> step.start(new int[20], 1));
        assertEquals("source must have 1..16 ids, got 20", e.getMessage());
    }

    @Test
    void aRefusedHandshakeCarriesTheServersMessage() {
        PipeException e = assertThrows(PipeException.class,
                () -> pipe(error("b: file missing: encoder.onnx"), new ByteArrayOutputStream()));
        assertEquals("b: file missing: encoder.onnx", e.getMessage());
    }

    @Test
    void aServerThatDiesSaysHowItDied() {
        PipeStep step = pipe(handshake(3), new ByteArrayOutputStream());
        PipeException e = assertThrows(PipeException.class, () -> step.step(new int[] {1}));
        assertEquals("step server stopped: exited with code 3: boom", e.getMessage());
        assertThrows(PipeException.class, () -> pipe(new byte[0], new ByteArrayOutputStream()));
    }

    @Test
    void anotherProgramOnTheOtherEndIsRefused() {
        byte[] wrong = "\0HTTP/1.1 200 OK and then some more bytes".getBytes(StandardCharsets.US_ASCII);
        assertTrue(assertThrows(PipeException.class, () -> pipe(wrong, new ByteArrayOutputStream()))
                .getMessage().contains("not its handshake"));
    }

    @Test
    void replayGivesBackWhatWasRecordedAndRefusesAnotherPath() {
        ByteBuffer logProbs = le(9 + 3 * 4).put((byte) 0).putInt(1).putInt(3).putFloat(-1f).putFloat(-0.1f).putFloat(-5f);
        PipeStep pipe = pipe(concat(handshake(3), new byte[] {0}, logProbs.array()), new ByteArrayOutputStream());
        RecordingStep rec = new RecordingStep(pipe);
        rec.start(new int[] {4, 0}, 1);
        float[] live = rec.step(new int[] {2});
        ReplayStep replay = new ReplayStep(rec.recording());
        replay.start(new int[] {4, 0}, 1);
        assertArrayEquals(live, replay.step(new int[] {2}));
        assertEquals(1, rec.recording().steps());
        replay.rewind();
        replay.start(new int[] {4, 0}, 1);
        assertThrows(IllegalStateException.class, () -> replay.step(new int[] {1}));
    }

    @Test
    void aMissingPythonIsAOneLineErrorNamingTheVariable() throws Exception {
        // build.sh runs the tests in android-demo/engine: the built-in bundle is two folders up
        Bundle bundle = Bundle.open(Path.of("../../sdk/models/en-de"));
        PipeStepFactory factory = new PipeStepFactory("/nonexistent/python-for-pocketmt", "onnx");
        PocketMtException e = assertThrows(PocketMtException.class, () -> factory.open(bundle));
        assertTrue(e.getMessage().contains(PipeStepFactory.PYTHON_ENV), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"));
    }
}

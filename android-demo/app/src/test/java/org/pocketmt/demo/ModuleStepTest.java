package org.pocketmt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Tensor;

/**
 * ModuleStep's cache bookkeeping against a fake program that checks the step contract at every call
 * (docs/bundle.md): the fake writes, as new_k/new_v, codes of (token, position, layer, head, dim),
 * reads the whole history of every row back out of the self-attention cache it is given, refuses a
 * cache whose slots are misplaced or not zero beyond {@code position}, and returns log-probs that
 * are a function of that history. The test keeps each row's expected history itself (appending
 * tokens, gathering by parent) and requires every returned row to match it.
 */
class ModuleStepTest {
    static final int L = 2, H = 2, DH = 3, T = 6, MAX_S = 5, MAX_B = 3, V = 7;

    /** The fake model: encode and decode_step over the stub Tensor, as the native side would see them. */
    static final class FakeProgram implements Program {
        int[] source;
        int vocab = V; // a test can make the model disagree with the manifest
        final Map<Object, Boolean> cacheTensors = new IdentityHashMap<>();
        int encodes;
        int steps;

        static float code(int token, int t, int l, int h, int d) {
            return token * 1000f + t * 100f + l * 10f + h * 4f + d; // exact in float32
        }

        @Override
        public EValue[] execute(String method, EValue... in) {
            if (method.equals("encode")) {
                return encode(in);
            }
            if (method.equals("decode_step")) {
                return decode(in);
            }
            throw new IllegalArgumentException("no method " + method);
        }

        private EValue[] encode(EValue[] in) {
            assertEquals(2, in.length);
            long[] ids = in[0].toTensor().getDataAsLongArray();
            long[] mask = in[1].toTensor().getDataAsLongArray();
            int s = ids.length;
            assertArrayEquals(new long[] {1, s}, in[0].toTensor().shape());
            assertArrayEquals(new long[] {1, s}, in[1].toTensor().shape());
            for (long m : mask) {
                assertEquals(1L, m);
            }
            source = new int[s];
            for (int i = 0; i < s; i++) {
                source[i] = (int) ids[i];
            }
            encodes++;
            cacheTensors.clear();
            return new EValue[] {tensor(cross(source, 1, false), L, 1, H, s, DH),
                tensor(cross(source, 1, true), L, 1, H, s, DH)};
        }

        static float[] cross(int[] src, int rows, boolean v) {
            int s = src.length;
            float[] out = new float[L * rows * H * s * DH];
            int i = 0;
            for (int l = 0; l < L; l++) {
                for (int r = 0; r < rows; r++) {
                    for (int h = 0; h < H; h++) {
                        for (int j = 0; j < s; j++) {
                            for (int d = 0; d < DH; d++) {
                                float c = src[j] * 100f + l * 10f + h * 3f + d;
                                out[i++] = v ? -c : c;
                            }
                        }
                    }
                }
            }
            return out;
        }

        private EValue[] decode(EValue[] in) {
            assertEquals(7, in.length);
            Tensor ids = in[0].toTensor();
            int b = (int) ids.shape()[0];
            assertArrayEquals(new long[] {b, 1}, ids.shape());
            long[] tokens = ids.getDataAsLongArray();
            assertArrayEquals(new long[] {1}, in[1].toTensor().shape());
            int p = (int) in[1].toTensor().getDataAsLongArray()[0];
            int s = source.length;
            for (int c = 2; c <= 3; c++) {
                assertArrayEquals(new long[] {L, b, H, T, DH}, in[c].toTensor().shape());
                cacheTensors.put(in[c].toTensor(), true);
            }
            assertArrayEquals(new long[] {L, b, H, s, DH}, in[4].toTensor().shape());
            assertArrayEquals(cross(source, b, false), in[4].toTensor().getDataAsFloatArray(), "cross_k rows");
            assertArrayEquals(cross(source, b, true), in[5].toTensor().getDataAsFloatArray(), "cross_v rows");
            assertArrayEquals(new long[] {b, s}, in[6].toTensor().shape());
            for (long m : in[6].toTensor().getDataAsLongArray()) {
                assertEquals(1L, m);
            }
            float[] k = in[2].toTensor().getDataAsFloatArray();
            float[] v = in[3].toTensor().getDataAsFloatArray();
            float[] logProbs = new float[b * vocab];
            float[] newK = new float[L * b * H * DH];
            float[] newV = new float[newK.length];
            for (int r = 0; r < b; r++) {
                List<Integer> history = history(k, v, r, b, p);
                history.add((int) tokens[r]);
                for (int x = 0; x < vocab; x++) {
                    logProbs[r * vocab + x] = score(history, x);
                }
                for (int l = 0; l < L; l++) {
                    for (int h = 0; h < H; h++) {
                        for (int d = 0; d < DH; d++) {
                            int at = ((l * b + r) * H + h) * DH + d;
                            newK[at] = code((int) tokens[r], p, l, h, d);
                            newV[at] = -newK[at] - 0.5f;
                        }
                    }
                }
            }
            steps++;
            return new EValue[] {tensor(logProbs, b, vocab), tensor(newK, L, b, H, 1, DH),
                tensor(newV, L, b, H, 1, DH)};
        }

        /** The tokens of row r read back from the cache; every slot must be whole and in place. */
        private static List<Integer> history(float[] k, float[] v, int r, int b, int p) {
            List<Integer> tokens = new ArrayList<>();
            for (int t = 0; t < T; t++) {
                int token = (int) (k[idx(0, r, 0, t, 0, b)] / 1000f);
                for (int l = 0; l < L; l++) {
                    for (int h = 0; h < H; h++) {
                        for (int d = 0; d < DH; d++) {
                            int i = idx(l, r, h, t, d, b);
                            float wantK = t < p ? code(token, t, l, h, d) : 0f;
                            float wantV = t < p ? -wantK - 0.5f : 0f;
                            if (k[i] != wantK || v[i] != wantV) {
                                throw new AssertionError("cache slot (l=" + l + ", row=" + r + ", h=" + h + ", t=" + t
                                        + ", d=" + d + ") at position " + p + " holds " + k[i] + "/" + v[i]
                                        + ", expected " + wantK + "/" + wantV);
                            }
                        }
                    }
                }
                if (t < p) {
                    tokens.add(token);
                }
            }
            return tokens;
        }

        private static int idx(int l, int r, int h, int t, int d, int b) {
            return (((l * b + r) * H + h) * T + t) * DH + d;
        }
    }

    /** Log-prob of token x after a history: any function that tells histories apart. */
    static float score(List<Integer> history, int x) {
        int hash = history.hashCode() * 31 + x;
        return -((hash & 0xffff) / 4096f);
    }

    /** An output tensor as the native side returns one: a fresh direct buffer. */
    static EValue tensor(float[] data, long... shape) {
        FloatBuffer b = ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        b.put(data);
        return EValue.from(Tensor.fromBlob(b, shape));
    }

    static ModuleStep step(Program program, AutoCloseable owner) {
        return new ModuleStep(program, "encode", "decode_step", L, H, DH, T, MAX_S, MAX_B, V, owner);
    }

    @Test
    void randomBeamsMatchTheirHistories() {
        FakeProgram fake = new FakeProgram();
        ModuleStep step = step(fake, null);
        Random random = new Random(18);
        int checkedRows = 0;
        for (int sentence = 0; sentence < 300; sentence++) {
            int s = 1 + random.nextInt(MAX_S);
            int rows = 1 + random.nextInt(MAX_B);
            int[] source = new int[s];
            for (int i = 0; i < s; i++) {
                source[i] = random.nextInt(50);
            }
            step.start(source, rows);
            List<List<Integer>> expected = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                expected.add(new ArrayList<>());
            }
            int steps = 1 + random.nextInt(T);
            for (int n = 0; n < steps; n++) {
                int[] tokens = new int[rows];
                for (int r = 0; r < rows; r++) {
                    tokens[r] = random.nextInt(V);
                    expected.get(r).add(tokens[r]);
                }
                float[] logProbs = step.step(tokens);
                assertEquals(rows * V, logProbs.length);
                for (int r = 0; r < rows; r++) {
                    for (int x = 0; x < V; x++) {
                        assertEquals(score(expected.get(r), x), logProbs[r * V + x], "sentence " + sentence + " row " + r);
                    }
                    checkedRows++;
                }
                int[] parents = new int[rows];
                boolean keep = random.nextInt(4) == 0; // the identity, which moves nothing
                for (int r = 0; r < rows; r++) {
                    parents[r] = keep ? r : random.nextInt(rows);
                }
                step.reorder(parents);
                List<List<Integer>> next = new ArrayList<>();
                for (int r = 0; r < rows; r++) {
                    next.add(new ArrayList<>(expected.get(parents[r])));
                }
                expected = next;
            }
            // one sentence passes the graph two caches (front and back), never a new one per step
            assertTrue(fake.cacheTensors.size() <= 4, "cache tensors per sentence: " + fake.cacheTensors.size());
        }
        assertEquals(300, fake.encodes);
        assertTrue(checkedRows > 1000, "rows checked: " + checkedRows);
    }

    @Test
    void theCacheIsStaticWithinASentence() {
        FakeProgram fake = new FakeProgram();
        ModuleStep step = step(fake, null);
        step.start(new int[] {1, 2, 3}, 2);
        for (int n = 0; n < T; n++) {
            step.step(new int[] {n % V, (n + 1) % V});
        }
        assertEquals(T, step.position());
        // self_k and self_v, both in one buffer pair: no reorder happened, so no back buffer was used
        assertEquals(2, fake.cacheTensors.size());
        IllegalStateException full = assertThrows(IllegalStateException.class, () -> step.step(new int[] {0, 0}));
        assertEquals("decoder cache is full", full.getMessage());
    }

    @Test
    void buffersAreReusedAcrossSentences() throws Exception {
        FakeProgram fake = new FakeProgram();
        ModuleStep step = step(fake, null);
        step.start(new int[] {1, 2, 3, 4, 5}, MAX_B); // the largest sentence: every buffer at its maximum
        step.step(new int[] {1, 2, 3});
        long[] before = nativeBytes(step);
        for (int i = 0; i < 20; i++) {
            step.start(new int[] {i % 7 + 1}, 1 + i % MAX_B);
            step.step(new int[i % MAX_B + 1]);
        }
        assertArrayEquals(before, nativeBytes(step));
    }

    /** Capacities of the step's direct buffers: the same array twice means nothing was reallocated. */
    private static long[] nativeBytes(ModuleStep step) throws Exception {
        List<Long> out = new ArrayList<>();
        for (java.lang.reflect.Field f : ModuleStep.class.getDeclaredFields()) {
            f.setAccessible(true);
            Object value = f.get(step);
            if (value instanceof ModuleStep.Slab) {
                out.add((long) ((ModuleStep.Slab) value).capacityBytes());
            } else if (value instanceof ModuleStep.Slab[]) {
                for (ModuleStep.Slab slab : (ModuleStep.Slab[]) value) {
                    out.add((long) slab.capacityBytes());
                }
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    @Test
    void aModelThatDisagreesWithTheManifestIsNamed() {
        FakeProgram fake = new FakeProgram();
        fake.vocab = V + 1;
        ModuleStep step = step(fake, null);
        step.start(new int[] {4, 0}, 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> step.step(new int[] {0}));
        assertTrue(e.getMessage().startsWith("decode_step output 0 has shape [1, 8], expected [1, 7]"), e.getMessage());
    }

    @Test
    void callsOutsideTheContractAreRefused() {
        ModuleStep step = step(new FakeProgram(), null);
        assertThrows(IllegalStateException.class, () -> step.step(new int[] {0}));
        assertThrows(IllegalArgumentException.class, () -> step.start(new int[] {1}, MAX_B + 1));
        assertThrows(IllegalArgumentException.class, () -> step.start(new int[MAX_S + 1], 1));
        assertThrows(IllegalArgumentException.class, () -> step.start(new int[0], 1));
        step.start(new int[] {1, 0}, 2);
        assertThrows(IllegalArgumentException.class, () -> step.step(new int[] {0}));
        step.step(new int[] {0, 1});
        assertThrows(IllegalArgumentException.class, () -> step.reorder(new int[] {0}));
        assertThrows(IllegalArgumentException.class, () -> step.reorder(new int[] {0, 2}));
        assertEquals(V, step.vocabSize());
    }

    @Test
    void closingTheStepClosesTheModule() throws Exception {
        boolean[] closed = {false};
        ModuleStep step = step(new FakeProgram(), () -> closed[0] = true);
        step.close();
        assertTrue(closed[0]);
        assertThrows(IllegalStateException.class, () -> step.step(new int[] {0}));
    }

    @Test
    void theStepReadsItsOutputsBeforeTheNextCall() {
        // The native side reuses an output's memory at the next execute: a step that kept a view of
        // new_k instead of copying it would see it change. This program overwrites its last outputs.
        FakeProgram fake = new FakeProgram();
        List<FloatBuffer> last = new ArrayList<>();
        Program reusing = (method, in) -> {
            for (FloatBuffer b : last) {
                for (int i = 0; i < b.capacity(); i++) {
                    b.put(i, Float.NaN);
                }
            }
            last.clear();
            EValue[] out = fake.execute(method, in);
            for (EValue e : out) {
                float[] data = e.toTensor().getDataAsFloatArray();
                FloatBuffer b = ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
                b.put(data);
                last.add(b);
            }
            EValue[] wrapped = new EValue[out.length];
            for (int i = 0; i < out.length; i++) {
                wrapped[i] = EValue.from(Tensor.fromBlob(last.get(i), out[i].toTensor().shape()));
            }
            return wrapped;
        };
        ModuleStep step = step(reusing, null);
        step.start(new int[] {3, 1, 4}, 2);
        float[] first = step.step(new int[] {1, 2});
        float[] copy = Arrays.copyOf(first, first.length);
        step.step(new int[] {3, 4}); // the fake checks the cache written from the first step's outputs
        step.reorder(new int[] {1, 1});
        step.step(new int[] {5, 6});
        assertArrayEquals(copy, first, "the returned log-probs are the caller's");
    }
}

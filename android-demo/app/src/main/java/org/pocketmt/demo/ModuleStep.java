package org.pocketmt.demo;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import org.pocketmt.engine.search.Step;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Tensor;

/**
 * The engine's {@link Step} over an ExecuTorch program with the bundle's two methods (docs/bundle.md,
 * "The step contract"): the Android twin of {@code CachedStepModel} in runtime/step.py.
 *
 * <ul>
 *   <li>{@code encode(input_ids[1,S], attention_mask[1,S]) -> (cross_k, cross_v [L,1,H,S,Dh])}, run once
 *       per sentence; its output is repeated for every row, since all rows share one source;
 *   <li>{@code decode_step(input_ids[B,1], position[1], self_k[L,B,H,T,Dh], self_v, cross_k, cross_v,
 *       attention_mask[B,S]) -> (log_probs[B,V], new_k[L,B,H,1,Dh], new_v)}; this class writes new_k
 *       and new_v into the cache at {@code position};
 *   <li>reorder: row i continues row {@code parents[i]}: the cache is gathered along the batch axis.
 * </ul>
 *
 * <p>The cache lives here, in direct native-order buffers: {@code Tensor.fromBlob(FloatBuffer, shape)}
 * hands such a buffer to the native side without copying, where {@code fromBlob(float[], shape)} would
 * allocate and copy the whole cache (megabytes) at every step. Buffers grow only when a sentence needs
 * more rows or source positions than any before it; a step allocates nothing but what the contract
 * returns (the log-probabilities, which the search keeps). Not thread-safe: one search at a time.
 *
 * <p>Position and limit are set through {@link Buffer}: the covariant {@code FloatBuffer.position(int)}
 * of Java 9+ is missing from older Android releases, and a call compiled against it fails there.
 */
public final class ModuleStep implements Step, AutoCloseable {
    private final Program program;
    private final String encodeMethod;
    private final String decodeMethod;
    private final int layers;
    private final int heads;
    private final int headDim;
    private final int maxTargetLen;
    private final int maxSourceLen;
    private final int maxBatch;
    private final int vocab;
    private final AutoCloseable owner; // the Module, closed with this step (null in tests)

    // backing storage, reused across sentences
    private final Slab sourceIds;
    private final Slab sourceMask;
    private final Slab rowMask;
    private final Slab tokenIds;
    private final Slab positionSlab;
    private final Slab crossK;
    private final Slab crossV;
    // two copies of each cache: reorder gathers from the front one into the back one, then swaps
    private final Slab[] selfK;
    private final Slab[] selfV;
    private final float[] newK; // one step's new_k / new_v, [L,B,H,1,Dh] for B up to max_batch
    private final float[] newV;
    private final FloatBuffer newKOut;
    private final FloatBuffer newVOut;

    // views and tensors of the current sentence (exact sizes: ExecuTorch checks capacity == numel)
    private int rows;
    private int position;
    private int front; // which of the two caches holds the live rows
    private LongBuffer tokens;
    private LongBuffer pos;
    private final FloatBuffer[] kViews = new FloatBuffer[2];
    private final FloatBuffer[] vViews = new FloatBuffer[2];
    private final FloatBuffer[] kReads = new FloatBuffer[2]; // duplicates used as gather sources
    private final FloatBuffer[] vReads = new FloatBuffer[2];
    private final EValue[] kValues = new EValue[2];
    private final EValue[] vValues = new EValue[2];
    private EValue tokensValue;
    private EValue positionValue;
    private EValue crossKValue;
    private EValue crossVValue;
    private EValue maskValue;
    private boolean started;

    /** The sizes come from the bundle's manifest ({@code model}, {@code limits}). */
    public ModuleStep(Program program, String encodeMethod, String decodeMethod, int layers, int heads,
            int headDim, int maxTargetLen, int maxSourceLen, int maxBatch, int vocab, AutoCloseable owner) {
        this.program = program;
        this.encodeMethod = encodeMethod;
        this.decodeMethod = decodeMethod;
        this.layers = layers;
        this.heads = heads;
        this.headDim = headDim;
        this.maxTargetLen = maxTargetLen;
        this.maxSourceLen = maxSourceLen;
        this.maxBatch = maxBatch;
        this.vocab = vocab;
        this.owner = owner;
        sourceIds = new Slab(8, maxSourceLen);
        sourceMask = new Slab(8, maxSourceLen);
        rowMask = new Slab(8, maxBatch * maxSourceLen);
        tokenIds = new Slab(8, maxBatch);
        positionSlab = new Slab(8, 1);
        int cross = layers * maxBatch * heads * maxSourceLen * headDim;
        crossK = new Slab(4, cross);
        crossV = new Slab(4, cross);
        int cache = layers * maxBatch * heads * maxTargetLen * headDim;
        selfK = new Slab[] {new Slab(4, cache), new Slab(4, cache)};
        selfV = new Slab[] {new Slab(4, cache), new Slab(4, cache)};
        newK = new float[layers * maxBatch * heads * headDim];
        newV = new float[newK.length];
        newKOut = FloatBuffer.wrap(newK);
        newVOut = FloatBuffer.wrap(newV);
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    /** Tokens decoded since {@link #start}: the next {@link #step} writes cache slot {@code position()}. */
    public int position() {
        return position;
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        int s = sourceIds.length;
        if (rows < 1 || rows > maxBatch) {
            throw new IllegalArgumentException("rows must be 1.." + maxBatch + " (the bundle's max_batch), got " + rows);
        }
        if (s < 1 || s > maxSourceLen) {
            throw new IllegalArgumentException("source length must be 1.." + maxSourceLen + ", got " + s);
        }
        started = false; // until the encoder has answered, a step would use the last sentence's state
        LongBuffer ids = this.sourceIds.longs(s);
        LongBuffer mask = sourceMask.longs(s);
        for (int i = 0; i < s; i++) {
            ids.put(i, sourceIds[i]);
            mask.put(i, 1L);
        }
        long[] sourceShape = {1, s};
        EValue[] out = program.execute(encodeMethod, EValue.from(Tensor.fromBlob(ids, sourceShape)),
                EValue.from(Tensor.fromBlob(mask, sourceShape)));
        long[] crossOne = {layers, 1, heads, s, headDim};
        Tensor k = output(out, 0, 2, encodeMethod, crossOne);
        Tensor v = output(out, 1, 2, encodeMethod, crossOne);

        this.rows = rows;
        long[] crossShape = {layers, rows, heads, s, headDim};
        crossKValue = EValue.from(Tensor.fromBlob(repeatRows(k, crossK, s), crossShape));
        crossVValue = EValue.from(Tensor.fromBlob(repeatRows(v, crossV, s), crossShape));

        LongBuffer rowMaskView = rowMask.longs(rows * s);
        for (int i = 0; i < rows * s; i++) {
            rowMaskView.put(i, 1L);
        }
        maskValue = EValue.from(Tensor.fromBlob(rowMaskView, new long[] {rows, s}));
        tokens = tokenIds.longs(rows);
        tokensValue = EValue.from(Tensor.fromBlob(tokens, new long[] {rows, 1}));
        pos = positionSlab.longs(1);
        positionValue = EValue.from(Tensor.fromBlob(pos, new long[] {1}));

        long[] cacheShape = {layers, rows, heads, maxTargetLen, headDim};
        int cacheSize = layers * rows * heads * maxTargetLen * headDim;
        for (int c = 0; c < 2; c++) {
            kViews[c] = zeroed(selfK[c].floats(cacheSize));
            vViews[c] = zeroed(selfV[c].floats(cacheSize));
            kReads[c] = kViews[c].duplicate();
            vReads[c] = vViews[c].duplicate();
            kValues[c] = EValue.from(Tensor.fromBlob(kViews[c], cacheShape));
            vValues[c] = EValue.from(Tensor.fromBlob(vViews[c], cacheShape));
        }
        front = 0;
        position = 0;
        started = true;
    }

    @Override
    public float[] step(int[] tokenIds) {
        if (!started) {
            throw new IllegalStateException("step before start");
        }
        if (tokenIds.length != rows) {
            throw new IllegalArgumentException("step of " + tokenIds.length + " tokens after a start with " + rows + " rows");
        }
        if (position >= maxTargetLen) {
            throw new IllegalStateException("decoder cache is full");
        }
        for (int r = 0; r < rows; r++) {
            tokens.put(r, tokenIds[r]);
        }
        pos.put(0, position);
        EValue[] out = program.execute(decodeMethod, tokensValue, positionValue, kValues[front], vValues[front],
                crossKValue, crossVValue, maskValue);
        long[] newShape = {layers, rows, heads, 1, headDim};
        Tensor logProbs = output(out, 0, 3, decodeMethod, new long[] {rows, vocab});
        Tensor k = output(out, 1, 3, decodeMethod, newShape);
        Tensor v = output(out, 2, 3, decodeMethod, newShape);
        // read every output before the next execute: their memory belongs to the native method
        float[] result = logProbs.getDataAsFloatArray();
        ((Buffer) newKOut).clear();
        k.copyDataInto(newKOut);
        ((Buffer) newVOut).clear();
        v.copyDataInto(newVOut);
        writeSlot(kViews[front], newK);
        writeSlot(vViews[front], newV);
        position++;
        return result;
    }

    @Override
    public void reorder(int[] parents) {
        if (!started) {
            throw new IllegalStateException("reorder before start");
        }
        if (parents.length != rows) {
            throw new IllegalArgumentException("reorder of " + parents.length + " rows after a start with " + rows);
        }
        boolean identity = true;
        for (int i = 0; i < rows; i++) {
            if (parents[i] < 0 || parents[i] >= rows) {
                throw new IllegalArgumentException("reorder parents must be in 0.." + (rows - 1) + ": "
                        + Arrays.toString(parents));
            }
            identity &= parents[i] == i;
        }
        if (identity) {
            return; // every row continues itself: nothing moves
        }
        int back = 1 - front;
        gather(kReads[front], kViews[back], parents);
        gather(vReads[front], vViews[back], parents);
        front = back;
    }

    @Override
    public void close() {
        started = false;
        if (owner != null) {
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("cannot close the ExecuTorch module: " + e.getMessage(), e);
            }
        }
    }

    /** Row i of the back cache := row parents[i] of the front one; only slots < position hold data. */
    private void gather(FloatBuffer from, FloatBuffer to, int[] parents) {
        int block = maxTargetLen * headDim; // one (layer, row, head): T slots of Dh floats
        int used = position * headDim;
        for (int l = 0; l < layers; l++) {
            for (int i = 0; i < rows; i++) {
                for (int h = 0; h < heads; h++) {
                    int src = ((l * rows + parents[i]) * heads + h) * block;
                    int dst = ((l * rows + i) * heads + h) * block;
                    window(from, src, used);
                    at(to, dst);
                    to.put(from);
                }
            }
        }
        // Slots >= position stay zero in both caches (zeroed at start, written only below position),
        // so the graph sees exactly the cache the Python runtime's gather gives it.
    }

    /** self[:, :, :, position] := new[:, :, :, 0] */
    private void writeSlot(FloatBuffer cache, float[] fresh) {
        int block = maxTargetLen * headDim;
        for (int lrh = 0; lrh < layers * rows * heads; lrh++) {
            at(cache, lrh * block + position * headDim);
            cache.put(fresh, lrh * headDim, headDim);
        }
    }

    /** [L,1,H,S,Dh] -> [L,rows,H,S,Dh]: each layer's block once per row. */
    private FloatBuffer repeatRows(Tensor one, Slab slab, int s) {
        float[] data = one.getDataAsFloatArray(); // once per sentence
        int block = heads * s * headDim;
        FloatBuffer view = slab.floats(layers * rows * block);
        for (int l = 0; l < layers; l++) {
            for (int r = 0; r < rows; r++) {
                at(view, (l * rows + r) * block);
                view.put(data, l * block, block);
            }
        }
        return view;
    }

    private static final float[] ZEROS = new float[4096];

    private static FloatBuffer zeroed(FloatBuffer view) {
        ((Buffer) view).clear();
        while (view.hasRemaining()) {
            view.put(ZEROS, 0, Math.min(ZEROS.length, view.remaining()));
        }
        return view;
    }

    private static void at(Buffer b, int position) {
        b.clear();
        b.position(position);
    }

    /** Make [start, start + length) of {@code b} its remaining part. */
    private static void window(Buffer b, int start, int length) {
        b.clear();
        b.position(start);
        b.limit(start + length);
    }

    /** Output {@code i} of {@code n}, checked to be a float tensor of the shape the contract gives. */
    private static Tensor output(EValue[] out, int i, int n, String method, long[] shape) {
        if (out == null || out.length != n) {
            throw new IllegalStateException(method + " returned " + (out == null ? "nothing" : out.length + " values")
                    + ", the step contract says " + n);
        }
        if (!out[i].isTensor()) {
            throw new IllegalStateException(method + " output " + i + " is not a tensor");
        }
        Tensor t = out[i].toTensor();
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalStateException(method + " output " + i + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape) + " (does the bundle's manifest match its .pte?)");
        }
        return t;
    }

    /**
     * One direct native-order buffer from which views of exact size are cut (ExecuTorch wants a
     * buffer whose capacity equals the tensor's element count). It is replaced only by a larger one.
     */
    static final class Slab {
        private final int elementBytes;
        private final int maxElements;
        private ByteBuffer bytes;

        /** {@code maxElements}: the most any sentence can need (from the manifest's limits). */
        Slab(int elementBytes, int maxElements) {
            this.elementBytes = elementBytes;
            this.maxElements = maxElements;
        }

        private ByteBuffer view(int elements) {
            int need = elements * elementBytes;
            if (bytes == null || bytes.capacity() < need) {
                // twice the old size (at most the maximum), so sentences of growing length regrow rarely
                int old = bytes == null ? 0 : bytes.capacity();
                int size = Math.max(need, Math.min(2 * old, maxElements * elementBytes));
                bytes = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder());
            }
            ByteBuffer b = bytes.duplicate();
            window(b, 0, need);
            return b.slice().order(ByteOrder.nativeOrder());
        }

        FloatBuffer floats(int n) {
            return view(n).asFloatBuffer();
        }

        LongBuffer longs(int n) {
            return view(n).asLongBuffer();
        }

        /** Bytes of native memory held (for the test that checks nothing is reallocated). */
        int capacityBytes() {
            return bytes == null ? 0 : bytes.capacity();
        }
    }
}

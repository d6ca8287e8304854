// COMPILE-ONLY STUB of org.pytorch.executorch.Tensor (executorch-android 1.3.0 / 1.4.1), never shipped.
// Behaves like the real class where app/src/test needs it: fromBlob(buffer) keeps the direct buffer
// without copying and refuses one whose capacity is not the element count, is not direct or is not
// in native order (the real checks); getDataAsFloatArray copies; copyDataInto does dst.put(data).
package org.pytorch.executorch;

import java.nio.Buffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;

public abstract class Tensor {
    final long[] shape;

    private Tensor(long[] shape) {
        this.shape = Arrays.copyOf(shape, shape.length);
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("Shape elements must be non negative");
            }
            n *= s;
        }
        return n;
    }

    public long[] shape() {
        return Arrays.copyOf(shape, shape.length);
    }

    public static Tensor fromBlob(FloatBuffer data, long[] shape) {
        check(data, data.isDirect(), data.order(), shape);
        return new Float32(data, shape);
    }

    public static Tensor fromBlob(LongBuffer data, long[] shape) {
        check(data, data.isDirect(), data.order(), shape);
        return new Int64(data, shape);
    }

    public static Tensor fromBlob(float[] data, long[] shape) {
        FloatBuffer b = java.nio.ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        b.put(data);
        return fromBlob(b, shape);
    }

    public abstract DType dtype();

    public float[] getDataAsFloatArray() {
        throw new IllegalStateException("Tensor of type " + getClass().getSimpleName() + " cannot return data as float array.");
    }

    public long[] getDataAsLongArray() {
        throw new IllegalStateException("Tensor of type " + getClass().getSimpleName() + " cannot return data as long array.");
    }

    public void copyDataInto(FloatBuffer dst) {
        throw new IllegalStateException("Tensor of type " + getClass().getSimpleName() + " cannot copy data into FloatBuffer.");
    }

    private static void check(Buffer data, boolean direct, ByteOrder order, long[] shape) {
        if (numel(shape) != data.capacity()) {
            throw new IllegalArgumentException("Inconsistent data capacity:" + data.capacity()
                    + " and shape number elements:" + numel(shape) + " shape:" + Arrays.toString(shape));
        }
        if (!direct) {
            throw new IllegalArgumentException("Data buffer must be direct (java.nio.ByteBuffer#allocateDirect)");
        }
        if (order != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException("Data buffer must have native byte order (java.nio.ByteOrder#nativeOrder)");
        }
    }

    static final class Float32 extends Tensor {
        private final FloatBuffer data;

        Float32(FloatBuffer data, long[] shape) {
            super(shape);
            this.data = data;
        }

        @Override
        public DType dtype() {
            return DType.FLOAT;
        }

        @Override
        public float[] getDataAsFloatArray() {
            ((Buffer) data).rewind(); // as the real one: it moves the buffer's own position
            float[] out = new float[data.remaining()];
            data.get(out);
            return out;
        }

        @Override
        public void copyDataInto(FloatBuffer dst) {
            ((Buffer) data).rewind();
            dst.put(data);
        }
    }

    static final class Int64 extends Tensor {
        private final LongBuffer data;

        Int64(LongBuffer data, long[] shape) {
            super(shape);
            this.data = data;
        }

        @Override
        public DType dtype() {
            return DType.INT64;
        }

        @Override
        public long[] getDataAsLongArray() {
            ((Buffer) data).rewind();
            long[] out = new long[data.remaining()];
            data.get(out);
            return out;
        }
    }
}

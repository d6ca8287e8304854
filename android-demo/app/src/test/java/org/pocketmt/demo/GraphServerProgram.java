package org.pocketmt.demo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.pytorch.executorch.DType;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Tensor;

/**
 * A {@link Program} answered by {@code src/test/python/graph_server.py}: the bundle's raw graphs run
 * by the Python runtime, tensors in and out, no cache or search on that side. It stands in for
 * ExecuTorch's Module on this JVM, so that {@link ModuleStep} keeps the cache of a real model.
 */
final class GraphServerProgram implements Program, AutoCloseable {
    private final Process process;
    private final DataInputStream in;
    private final OutputStream out;

    GraphServerProgram(String python, Path script, Path bundle, String backend) throws IOException {
        process = new ProcessBuilder(python, script.toString(), bundle.toString(), "--backend", backend)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        in = new DataInputStream(new BufferedInputStream(process.getInputStream(), 1 << 16));
        out = new BufferedOutputStream(process.getOutputStream(), 1 << 16);
        byte[] magic = new byte[4];
        in.readFully(magic);
        if (!Arrays.equals(magic, "PMTG".getBytes(StandardCharsets.US_ASCII))) {
            throw new IOException("not the graph server's handshake");
        }
    }

    @Override
    public EValue[] execute(String method, EValue... inputs) {
        try {
            byte[] name = method.getBytes(StandardCharsets.UTF_8);
            ByteBuffer head = le(4 + name.length);
            head.put((byte) 'X').putShort((short) name.length).put(name).put((byte) inputs.length);
            out.write(head.array());
            for (EValue v : inputs) {
                writeTensor(v.toTensor());
            }
            out.flush();
            int status = in.readUnsignedByte();
            if (status != 0) {
                byte[] msg = new byte[Integer.reverseBytes(in.readInt())];
                in.readFully(msg);
                throw new IllegalStateException(method + ": " + new String(msg, StandardCharsets.UTF_8));
            }
            EValue[] outputs = new EValue[in.readUnsignedByte()];
            for (int i = 0; i < outputs.length; i++) {
                outputs[i] = EValue.from(readTensor());
            }
            return outputs;
        } catch (IOException e) {
            throw new IllegalStateException("graph server: " + e.getMessage(), e);
        }
    }

    private void writeTensor(Tensor t) throws IOException {
        long[] shape = t.shape();
        ByteBuffer head = le(2 + 8 * shape.length);
        head.put((byte) (t.dtype() == DType.FLOAT ? 0 : 1)).put((byte) shape.length);
        for (long s : shape) {
            head.putLong(s);
        }
        out.write(head.array());
        if (t.dtype() == DType.FLOAT) {
            float[] data = t.getDataAsFloatArray();
            ByteBuffer b = le(4 * data.length);
            b.asFloatBuffer().put(data);
            out.write(b.array());
        } else {
            long[] data = t.getDataAsLongArray();
            ByteBuffer b = le(8 * data.length);
            b.asLongBuffer().put(data);
            out.write(b.array());
        }
    }

    /** As the native side returns outputs: a direct native-order buffer per tensor. */
    private Tensor readTensor() throws IOException {
        int code = in.readUnsignedByte();
        int rank = in.readUnsignedByte();
        long[] shape = new long[rank];
        for (int i = 0; i < rank; i++) {
            shape[i] = Long.reverseBytes(in.readLong());
        }
        int count = (int) Tensor.numel(shape);
        byte[] raw = new byte[count * (code == 0 ? 4 : 8)];
        in.readFully(raw);
        ByteBuffer src = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer dst = ByteBuffer.allocateDirect(raw.length).order(ByteOrder.nativeOrder());
        if (code == 0) {
            FloatBuffer f = dst.asFloatBuffer();
            f.put(src.asFloatBuffer());
            return Tensor.fromBlob(f, shape);
        }
        LongBuffer l = dst.asLongBuffer();
        l.put(src.asLongBuffer());
        return Tensor.fromBlob(l, shape);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void close() {
        try {
            out.write('Q');
            out.flush();
        } catch (IOException e) {
            // already gone
        }
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroy();
            }
        } catch (InterruptedException e) {
            process.destroy();
            Thread.currentThread().interrupt();
        }
    }
}

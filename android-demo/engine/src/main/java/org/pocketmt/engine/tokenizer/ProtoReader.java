package org.pocketmt.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads the protobuf wire format field by field: enough for SentencePiece's ModelProto, which needs
 * varints, 32-bit floats and length-delimited strings/bytes/sub-messages. Unknown fields are skipped
 * so models written by newer trainers still load.
 */
final class ProtoReader {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int START_GROUP = 3;
    static final int END_GROUP = 4;
    static final int FIXED32 = 5;

    private final byte[] buf;
    private int pos;
    private final int end;
    private int lastTag;

    ProtoReader(byte[] buf) {
        this(buf, 0, buf.length);
    }

    private ProtoReader(byte[] buf, int from, int to) {
        this.buf = buf;
        this.pos = from;
        this.end = to;
    }

    boolean atEnd() {
        return pos >= end;
    }

    /** Reads the next tag; returns the field number. The wire type is in {@link #wireType()}. */
    int nextField() throws TokenizerException {
        long tag = readVarint();
        if (tag >>> 32 != 0 || (tag >>> 3) == 0) {
            throw new TokenizerException("protobuf: bad field tag " + tag + " at byte " + pos);
        }
        lastTag = (int) tag;
        return lastTag >>> 3;
    }

    int wireType() {
        return lastTag & 7;
    }

    long readVarint() throws TokenizerException {
        long value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) {
                throw new TokenizerException("protobuf: truncated varint at byte " + pos);
            }
            int b = buf[pos++] & 0xFF;
            value |= (long) (b & 0x7F) << shift;
            if (b < 0x80) {
                return value;
            }
        }
        throw new TokenizerException("protobuf: varint longer than 10 bytes at byte " + pos);
    }

    /** An int32 field: negative values are written as 10-byte varints and truncate back to 32 bits. */
    int readInt32() throws TokenizerException {
        expect(VARINT);
        return (int) readVarint();
    }

    boolean readBool() throws TokenizerException {
        expect(VARINT);
        return readVarint() != 0;
    }

    float readFloat() throws TokenizerException {
        expect(FIXED32);
        return Float.intBitsToFloat(readFixed32());
    }

    byte[] readBytes() throws TokenizerException {
        expect(LENGTH_DELIMITED);
        int len = readLength();
        byte[] out = Arrays.copyOfRange(buf, pos, pos + len);
        pos += len;
        return out;
    }

    String readString() throws TokenizerException {
        return new String(readBytes(), StandardCharsets.UTF_8);
    }

    /** A sub-message: a reader over its bytes only. */
    ProtoReader readMessage() throws TokenizerException {
        expect(LENGTH_DELIMITED);
        int len = readLength();
        ProtoReader sub = new ProtoReader(buf, pos, pos + len);
        pos += len;
        return sub;
    }

    void skipField() throws TokenizerException {
        switch (wireType()) {
            case VARINT -> readVarint();
            case FIXED64 -> advance(8);
            case LENGTH_DELIMITED -> advance(readLength());
            case FIXED32 -> advance(4);
            case START_GROUP -> skipGroup(lastTag >>> 3);
            default -> throw new TokenizerException("protobuf: unexpected wire type " + wireType() + " at byte " + pos);
        }
    }

    private void skipGroup(int field) throws TokenizerException {
        while (true) {
            if (atEnd()) {
                throw new TokenizerException("protobuf: unterminated group " + field);
            }
            int f = nextField();
            if (wireType() == END_GROUP) {
                if (f != field) {
                    throw new TokenizerException("protobuf: mismatched end of group " + field);
                }
                return;
            }
            skipField();
        }
    }

    private int readFixed32() throws TokenizerException {
        if (end - pos < 4) {
            throw new TokenizerException("protobuf: truncated fixed32 at byte " + pos);
        }
        int v = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16 | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return v;
    }

    private int readLength() throws TokenizerException {
        long len = readVarint();
        if (len < 0 || len > end - pos) {
            throw new TokenizerException("protobuf: length " + len + " runs past the end at byte " + pos);
        }
        return (int) len;
    }

    private void advance(int n) throws TokenizerException {
        if (n > end - pos) {
            throw new TokenizerException("protobuf: field runs past the end at byte " + pos);
        }
        pos += n;
    }

    private void expect(int type) throws TokenizerException {
        if (wireType() != type) {
            throw new TokenizerException("protobuf: field " + (lastTag >>> 3) + " has wire type " + wireType() + ", expected " + type);
        }
    }
}

package org.pocketmt.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProtoReaderTest {
    private static byte[] bytes(int... b) {
        byte[] out = new byte[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = (byte) b[i];
        }
        return out;
    }

    @Test
    void readsScalarsAndStrings() throws Exception {
        // field 1 varint 300; field 2 fixed32 float 1.5; field 3 string "hé"; field 43 int32 -1 (10-byte varint)
        byte[] msg = bytes(0x08, 0xAC, 0x02,
                0x15, 0x00, 0x00, 0xC0, 0x3F,
                0x1A, 0x03, 'h', 0xC3, 0xA9,
                0xD8, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
        ProtoReader r = new ProtoReader(msg);
        assertEquals(1, r.nextField());
        assertEquals(300, r.readInt32());
        assertEquals(2, r.nextField());
        assertEquals(1.5f, r.readFloat());
        assertEquals(3, r.nextField());
        assertEquals("hé", r.readString());
        assertEquals(43, r.nextField());
        assertEquals(-1, r.readInt32());
        assertTrue(r.atEnd());
    }

    @Test
    void skipsUnknownFieldsOfEveryWireType() throws Exception {
        byte[] msg = bytes(0x08, 0x96, 0x01, // varint
                0x11, 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
                0x1A, 0x02, 'a', 'b', // bytes
                0x25, 1, 2, 3, 4, // fixed32
                0x2B, 0x08, 0x01, 0x2C, // group 5 holding field 1
                0x30, 0x07);
        ProtoReader r = new ProtoReader(msg);
        for (int i = 0; i < 5; i++) {
            r.nextField();
            r.skipField();
        }
        assertEquals(6, r.nextField());
        assertEquals(7, r.readInt32());
        assertTrue(r.atEnd());
    }

    @Test
    void readsSubMessagesInPlace() throws Exception {
        byte[] msg = bytes(0x0A, 0x04, 0x0A, 0x02, 'o', 'k', 0x10, 0x01);
        ProtoReader r = new ProtoReader(msg);
        assertEquals(1, r.nextField());
        ProtoReader sub = r.readMessage();
        assertEquals(1, sub.nextField());
        assertArrayEquals("ok".getBytes(StandardCharsets.UTF_8), sub.readBytes());
        assertTrue(sub.atEnd());
        assertFalse(r.atEnd());
        assertEquals(2, r.nextField());
        assertTrue(r.readBool());
    }

    @Test
    void truncatedOrMistypedInputIsATokenizerException() {
        assertThrows(TokenizerException.class, () -> new ProtoReader(bytes(0x80)).nextField());
        assertThrows(TokenizerException.class, () -> {
            ProtoReader r = new ProtoReader(bytes(0x08, 0x80));
            r.nextField();
            r.readInt32();
        });
        TokenizerException e = assertThrows(TokenizerException.class, () -> {
            ProtoReader r = new ProtoReader(bytes(0x0A, 0x05, 'a'));
            r.nextField();
            r.readBytes();
        });
        assertFalse(e.getMessage().contains("\n"));
        assertThrows(TokenizerException.class, () -> {
            ProtoReader r = new ProtoReader(bytes(0x08, 0x01));
            r.nextField();
            r.readFloat();
        });
    }
}

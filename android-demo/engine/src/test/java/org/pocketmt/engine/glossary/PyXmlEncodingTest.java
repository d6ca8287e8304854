package org.pocketmt.engine.glossary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The declared encodings of TBX files: every name tools/gen_python_codecs.py tried, resolved as Python does. */
class PyXmlEncodingTest {
    /** tools/gen_python_codecs.py's digest: SHA-256 of the 256 code points (-1 for invalid) joined by ','. */
    static String digest(int[] table) throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < table.length; i++) text.append(i == 0 ? "" : ",").append(table[i]);
        byte[] hash = MessageDigest.getInstance("SHA-256").digest(text.toString().getBytes(StandardCharsets.US_ASCII));
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < 8; i++) hex.append(String.format("%02x", hash[i] & 0xff));
        return hex.toString();
    }

    @Test
    void everyDeclaredNameResolvesAsInPython() throws Exception {
        List<String> failures = new ArrayList<>();
        int names = 0;
        try (InputStream in = PyXmlEncodingTest.class.getResourceAsStream("python_codec_names.txt")) {
            assertNotNull(in, "python_codec_names.txt (run android-demo/engine/tools/gen_python_codecs.py)");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("#")) continue;
                names++;
                String[] f = line.split(" ", 3);
                String want = f[1] + " " + f[2], got;
                try {
                    Object codec = PyXmlEncoding.codec(f[0]);
                    got = codec instanceof int[] ? "ok " + digest((int[]) codec) : "expat " + codec;
                } catch (PyXmlEncoding.Refused e) {
                    got = "error " + e.getMessage();
                }
                if (!got.equals(want)) failures.add(f[0] + ": want " + want + ", got " + got);
            }
        }
        assertTrue(names > 1000, "too few names: " + names);
        assertEquals(List.of(), failures);
    }

    @Test
    void normalizesAsCPythonBeforeTheLookup() {
        assertEquals("utf_8", PyXmlEncoding.normalize("UTF--8"));
        assertEquals("iso8859.15", PyXmlEncoding.normalize("ISO8859.15-"));
        assertEquals("latex_latin1", PyXmlEncoding.normalize("latex+latin1"));
    }

    static byte[] doc(String encoding, String body) {
        return ("<?xml version=\"1.0\" encoding=\"" + encoding + "\"?>" + body).getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void decodesWithPythonsTableOrLeavesTheBytesToTheParser() throws Exception {
        // cp1252 as Python has it: 0x80 is the euro sign, 0x81 is undefined (Java's windows-1252 maps it to U+0081)
        assertEquals("<?xml version=\"1.0\" encoding=\"cp1252\"?><a>\u20ac\u00e9</a>",
                PyXmlEncoding.decode(doc("cp1252", "<a>\u0080\u00e9</a>")));
        assertTrue(assertThrows(PyXmlEncoding.Refused.class, () -> PyXmlEncoding.decode(doc("cp1252", "<a>\u0081</a>")))
                .getMessage().startsWith("not well-formed (invalid token): "));
        assertEquals("multi-byte encodings are not supported",
                assertThrows(PyXmlEncoding.Refused.class, () -> PyXmlEncoding.decode(doc("Shift_JIS", "<a/>"))).getMessage());
        assertEquals("unknown encoding: x-MacRoman",
                assertThrows(PyXmlEncoding.Refused.class, () -> PyXmlEncoding.decode(doc("x-MacRoman", "<a/>"))).getMessage());
        // expat's own encodings, no declaration, a malformed one: the parser reads the bytes
        assertNull(PyXmlEncoding.decode(doc("utf-8", "<a/>")));
        assertNull(PyXmlEncoding.decode(doc("Iso-8859-1", "<a/>")));
        assertNull(PyXmlEncoding.decode("<a/>".getBytes(StandardCharsets.US_ASCII)));
        assertNull(PyXmlEncoding.decode(doc("1bad", "<a/>")));
    }
}

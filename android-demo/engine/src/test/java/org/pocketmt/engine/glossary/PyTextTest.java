package org.pocketmt.engine.glossary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Every code point of PyText against Python's own functions (digests from tools/gen_python_unicode.py). */
class PyTextTest {
    static Map<String, String> digests() throws Exception {
        Map<String, String> out = new HashMap<>();
        try (InputStream in = PyTextTest.class.getResourceAsStream("python_unicode_digests.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] kv = line.split(" ");
                out.put(kv[0], kv[1]);
            }
        }
        return out;
    }

    static String hex(byte[] digest) {
        StringBuilder s = new StringBuilder();
        for (byte b : digest) s.append(String.format("%02x", b));
        return s.toString();
    }

    static String bits(IntPredicate p) throws Exception {
        byte[] all = new byte[0x110000];
        for (int cp = 0; cp < all.length; cp++) all[cp] = (byte) (p.test(cp) ? 1 : 0);
        return hex(MessageDigest.getInstance("SHA-256").digest(all));
    }

    static String mapping(UnaryOperator<String> fn) throws Exception {
        StringBuilder lines = new StringBuilder();
        for (int cp = 0; cp < 0x110000; cp++) {
            String ch = new String(Character.toChars(cp));
            String mapped = fn.apply(ch);
            if (mapped.equals(ch)) continue;
            if (lines.length() > 0) lines.append('\n');
            lines.append(Integer.toHexString(cp)).append(':');
            int[] cps = mapped.codePoints().toArray();
            for (int i = 0; i < cps.length; i++) lines.append(i > 0 ? " " : "").append(Integer.toHexString(cps[i]));
        }
        return hex(MessageDigest.getInstance("SHA-256").digest(lines.toString().getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void everyCodePointAsInPython() throws Exception {
        Map<String, String> want = digests();
        assertEquals(want.get("isspace"), bits(PyText::isSpace), "isspace");
        assertEquals(want.get("isalnum"), bits(PyText::isAlnum), "isalnum");
        assertEquals(want.get("isprintable"), bits(PyText::isPrintable), "isprintable");
        assertEquals(want.get("casefold"), mapping(PyText::casefold), "casefold");
        assertEquals(want.get("upper"), mapping(PyText::upper), "upper");
    }

    @Test
    void nfkcThenCasefoldPerCodePointDiffersOnlyWhereJavasUnicodeIsOlder() throws Exception {
        Map<Integer, String> python = new HashMap<>();
        try (InputStream in = PyTextTest.class.getResourceAsStream("python_nfkc_casefold.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] kv = line.split(":");
                StringBuilder to = new StringBuilder();
                for (String h : kv[1].split(" ")) to.appendCodePoint(Integer.parseInt(h, 16));
                python.put(Integer.parseInt(kv[0], 16), to.toString());
            }
        }
        int differ = 0;
        List<String> unexplained = new java.util.ArrayList<>();
        for (int cp = 0; cp < 0x110000; cp++) {
            String ch = new String(Character.toChars(cp));
            String want = python.getOrDefault(cp, ch);
            if (PyText.normalize(ch).equals(want)) continue;
            differ++;
            // Python's Unicode is newer than the JDK's: a code point Java does not know yet may normalize differently
            if (Character.getType(cp) != Character.UNASSIGNED) unexplained.add(Integer.toHexString(cp));
        }
        System.out.println("NFKC+casefold: " + differ + " code points differ from Python, all unassigned in this JDK's Unicode");
        assertEquals(List.of(), unexplained);
    }

    @Test
    void javasOwnFunctionsAreNotPythons() {
        // why the tables exist: count the code points where Java's nearest functions differ
        int fold = 0, alnum = 0, space = 0;
        for (int cp = 0; cp < 0x110000; cp++) {
            String ch = new String(Character.toChars(cp));
            if (!ch.toLowerCase(java.util.Locale.ROOT).equals(PyText.casefold(ch))) fold++;
            if (Character.isLetterOrDigit(cp) != PyText.isAlnum(cp)) alnum++;
            if (Character.isWhitespace(cp) != PyText.isSpace(cp)) space++;
        }
        System.out.println("code points where Java differs from Python: casefold " + fold + ", isalnum " + alnum + ", isspace " + space);
        assertTrue(fold > 0 && alnum > 0 && space > 0);
    }

    @Test
    void knownCases() {
        assertEquals("strasse", PyText.casefold("Straße"));
        assertEquals("σίσυφοσ", PyText.casefold("ΣΊΣΥΦΟΣ"));
        assertEquals("SS", PyText.upper("ß"));
        assertEquals("ʼN", PyText.upper("ŉ"));
        assertTrue(PyText.isAlnum('²') && PyText.isAlnum('Ⅻ') && PyText.isAlnum('١'));
        assertFalse(PyText.isAlnum('_') || PyText.isAlnum(0x301)); // combining marks are not isalnum
        assertTrue(PyText.isSpace(0xa0) && PyText.isSpace(0x1c) && PyText.isSpace(0x85) && PyText.isSpace(0x3000));
        assertFalse(PyText.isSpace(0x200b) || PyText.isSpace(0xfeff));
        assertEquals("x", PyText.strip("\u00a0\u2003x\u3000\n"));
        assertEquals(List.of("ab1", "x²", "é"), PyText.alnumRuns("ab1_x² -é"));
        assertEquals("'it\\'s \"x\"'", PyText.repr("it's \"x\""));
        assertEquals("'\\ud800'", PyText.repr("\ud800"));
        assertEquals("\ud83d\ude00", PyText.head("\ud83d\ude00ab", 1)); // Python slices code points, not UTF-16 units
    }
}

package org.pocketmt.engine.glossary;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The encoding a TBX document declares, read as expat under Python reads it (runtime/glossary.py parses TBX with
 * defusedxml). Expat decodes UTF-8, UTF-16, ISO-8859-1 and US-ASCII itself; any other declared name goes to
 * Python's codec registry, whose codec must give one character per byte: an unknown name is "unknown encoding:
 * NAME", a multi-byte codec (Shift_JIS, GBK, UTF-32) is refused, and a byte the codec cannot decode is an invalid
 * token. Java's XML parser knows other names and decodes multi-byte encodings, so for those documents the engine
 * decodes the bytes itself with Python's tables (tools/gen_python_codecs.py) and hands the parser the text.
 */
final class PyXmlEncoding {
    private PyXmlEncoding() {}

    /** A document Python's reader refuses: the message Python gives (inside "not a readable TBX file (...)"). */
    static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message);
        }
    }

    /** Expat's own encodings, whose names it compares ignoring ASCII case. */
    private static final Set<String> EXPAT_NATIVE = Set.of("UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "ISO-8859-1",
            "US-ASCII");
    private static final Map<String, String> ALIASES = new HashMap<>(); // encodings.aliases: normalized -> module
    private static final Map<String, Object> CODECS = new HashMap<>(); // module -> int[256] table, or its outcome

    static {
        try (InputStream in = PyXmlEncoding.class.getResourceAsStream("python_codecs.txt")) {
            if (in == null) throw new IllegalStateException("python_codecs.txt is missing from the engine's resources");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] f = line.split(" ", 4);
                if (f[0].equals("alias")) {
                    ALIASES.put(f[1], f[2]);
                } else if (f[0].equals("codec") && (f[2].equals("high") || f[2].equals("full"))) {
                    String[] codes = f[3].split(" ");
                    int[] table = new int[256];
                    int from = 256 - codes.length;
                    if (from != (f[2].equals("high") ? 128 : 0)) throw new IllegalStateException("python_codecs.txt: " + f[1]);
                    for (int b = 0; b < from; b++) table[b] = b;
                    for (int b = from; b < 256; b++) {
                        table[b] = codes[b - from].equals("-") ? -1 : Integer.parseInt(codes[b - from], 16);
                    }
                    CODECS.put(f[1], table);
                } else if (f[0].equals("codec") && (f[2].equals("error") || f[2].equals("expat"))) {
                    CODECS.put(f[1], f[2] + " " + f[3]);
                } else {
                    throw new IllegalStateException("python_codecs.txt: unknown line " + line);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * CPython's {@code _Py_normalize_encoding}, which {@code codecs.lookup} applies before its search: ASCII
     * letters and digits and '.' are kept (lower-cased), every run of other characters between them becomes '_'.
     */
    static String normalize(String name) {
        StringBuilder out = new StringBuilder();
        boolean punct = false;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.') {
                if (punct && out.length() > 0) out.append('_');
                punct = false;
                out.append(Character.toLowerCase(c));
            } else {
                punct = true;
            }
        }
        return out.toString();
    }

    static boolean expatNative(String name) {
        return EXPAT_NATIVE.contains(name.toUpperCase(Locale.ROOT));
    }

    /**
     * What pyexpat gets for a declared (non-native) name, found as {@code encodings.search_function} finds it
     * (the alias of the normalized name first, then the name itself): an {@code int[256]} of each byte's code
     * point (-1 where the codec cannot decode it), or a String, expat's own error for a table it rejects
     * (EBCDIC's, whose ASCII characters sit elsewhere). Python's other refusals are thrown.
     */
    static Object codec(String declared) throws Refused {
        String norm = normalize(declared);
        String alias = ALIASES.get(norm);
        if (alias == null) alias = ALIASES.get(norm.replace('.', '_'));
        for (String module : alias != null ? List.of(alias, norm) : List.of(norm)) {
            if (module.isEmpty() || module.indexOf('.') >= 0) continue;
            Object codec = CODECS.get(module);
            if (codec == null) continue; // no such module: the search goes on
            if (codec instanceof int[]) return codec;
            String outcome = (String) codec;
            if (outcome.startsWith("error ")) throw new Refused(outcome.substring(6).replace("{name}", declared));
            return outcome.substring(6); // "expat ...": the reader's own error, which needs the document's position
        }
        throw new Refused("unknown encoding: " + declared);
    }

    private static final String S = "[ \\t\\r\\n]";
    private static final Pattern DECLARATION = Pattern.compile("<\\?xml" + S + "+version" + S + "*=" + S
            + "*(?:\"[^\"]*\"|'[^']*')" + S + "+encoding" + S + "*=" + S + "*([\"'])([A-Za-z][A-Za-z0-9._-]*)\\1");

    private static String position(String text, int end) {
        int line = 1, column = 0;
        for (int i = 0; i < end; i++) {
            if (text.charAt(i) == '\n') {
                line++;
                column = 0;
            } else {
                column++;
            }
        }
        return "line " + line + ", column " + column;
    }

    /**
     * The document as text when it declares an encoding expat does not know itself, decoded as Python would;
     * null when the XML parser should read the bytes (no declaration, a native encoding, or a declaration it
     * will reject on its own).
     */
    static String decode(byte[] raw) throws Refused {
        int start = 0;
        Charset head = StandardCharsets.ISO_8859_1;
        boolean utf16 = false;
        int b0 = raw.length > 0 ? raw[0] & 0xff : -1, b1 = raw.length > 1 ? raw[1] & 0xff : -1;
        int b2 = raw.length > 2 ? raw[2] & 0xff : -1, b3 = raw.length > 3 ? raw[3] & 0xff : -1;
        if (b0 == 0xef && b1 == 0xbb && b2 == 0xbf) {
            start = 3;
        } else if ((b0 == 0xfe && b1 == 0xff) || (b0 == 0xff && b1 == 0xfe)) {
            start = 2;
            utf16 = true;
            head = b0 == 0xfe ? StandardCharsets.UTF_16BE : StandardCharsets.UTF_16LE;
        } else if (b0 == '<' && b1 == 0 && b2 == '?' && b3 == 0) {
            utf16 = true;
            head = StandardCharsets.UTF_16LE;
        } else if (b0 == 0 && b1 == '<' && b2 == 0 && b3 == '?') {
            utf16 = true;
            head = StandardCharsets.UTF_16BE;
        }
        String text = new String(raw, start, Math.min(raw.length - start, 1024), head);
        Matcher m = DECLARATION.matcher(text);
        if (!m.lookingAt() || expatNative(m.group(2))) return null;
        Object codec = codec(m.group(2));
        if (codec instanceof String) throw new Refused(codec + ": " + position(text, m.start(2)));
        // a one-byte table over UTF-16's bytes: the NUL of the first ASCII character is invalid
        if (utf16) throw new Refused("not well-formed (invalid token): line 1, column 1");
        int[] table = (int[]) codec;
        StringBuilder out = new StringBuilder(raw.length - start);
        for (int i = start; i < raw.length; i++) {
            int cp = table[raw[i] & 0xff];
            if (cp < 0) throw new Refused("not well-formed (invalid token): " + position(out.toString(), out.length()));
            out.append((char) cp); // expat's tables hold BMP code points only
        }
        return out.toString();
    }
}

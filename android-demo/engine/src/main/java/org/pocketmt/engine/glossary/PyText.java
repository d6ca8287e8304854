package org.pocketmt.engine.glossary;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Python's string functions the runtime's text rules are written in ({@code str.isspace}, {@code isalnum},
 * {@code casefold}, {@code upper}, {@code strip}, {@code repr}), with their Unicode tables taken from Python
 * (tools/gen_python_unicode.py) so that every code point behaves as in the Python runtime. Java's own
 * character classes differ (no numeric categories in isLetterOrDigit, other whitespace, simple case maps).
 * NFKC is Java's {@link Normalizer} (JDK 17: Unicode 13; the Python runtime: Unicode 14).
 */
public final class PyText {
    private PyText() {}

    private static final Set<Integer> SPACE = new HashSet<>();
    private static final int[] ALNUM; // sorted inclusive ranges, flattened
    private static final int[] PRINTABLE;
    private static final Map<Integer, int[]> FOLD = new HashMap<>();
    private static final Map<Integer, int[]> UPPER = new HashMap<>();

    static {
        List<Integer> alnum = new ArrayList<>();
        List<Integer> printable = new ArrayList<>();
        try (InputStream in = PyText.class.getResourceAsStream("python_unicode.txt")) {
            if (in == null) throw new IllegalStateException("python_unicode.txt is missing from the engine's resources");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] f = line.split(" ");
                switch (f[0]) {
                    case "space":
                        for (int i = 1; i < f.length; i++) SPACE.add(Integer.parseInt(f[i], 16));
                        break;
                    case "alnum":
                        alnum.add(Integer.parseInt(f[1], 16));
                        alnum.add(Integer.parseInt(f[2], 16));
                        break;
                    case "printable":
                        printable.add(Integer.parseInt(f[1], 16));
                        printable.add(Integer.parseInt(f[2], 16));
                        break;
                    case "fold":
                    case "upper":
                        String[] kv = line.substring(f[0].length() + 1).split(":");
                        String[] to = kv[1].split(" ");
                        int[] mapped = new int[to.length];
                        for (int i = 0; i < to.length; i++) mapped[i] = Integer.parseInt(to[i], 16);
                        (f[0].equals("fold") ? FOLD : UPPER).put(Integer.parseInt(kv[0], 16), mapped);
                        break;
                    default:
                        throw new IllegalStateException("python_unicode.txt: unknown line " + line);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ALNUM = alnum.stream().mapToInt(Integer::intValue).toArray();
        PRINTABLE = printable.stream().mapToInt(Integer::intValue).toArray();
    }

    private static boolean inRanges(int[] ranges, int cp) {
        int lo = 0, hi = ranges.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[2 * mid]) hi = mid - 1;
            else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }
        return false;
    }

    /** {@code chr(cp).isspace()}, which is also what regex {@code \s} matches in a str pattern. */
    public static boolean isSpace(int cp) {
        return SPACE.contains(cp);
    }

    /** {@code chr(cp).isalnum()}, which is also regex {@code [^\W_]}. */
    public static boolean isAlnum(int cp) {
        return inRanges(ALNUM, cp);
    }

    /** {@code chr(cp).isprintable()}. */
    public static boolean isPrintable(int cp) {
        return inRanges(PRINTABLE, cp);
    }

    private static String mapEach(String s, Map<Integer, int[]> table) {
        StringBuilder out = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            int[] m = table.get(cp);
            if (m == null) out.appendCodePoint(cp);
            else for (int c : m) out.appendCodePoint(c);
        });
        return out.toString();
    }

    /** {@code s.casefold()}: full case folding (ß -> ss), per code point as Python does it. */
    public static String casefold(String s) {
        return mapEach(s, FOLD);
    }

    /** {@code s.upper()}: full upper-casing (ß -> SS); Python's has no context rules, so per code point. */
    public static String upper(String s) {
        return mapEach(s, UPPER);
    }

    /** {@code unicodedata.normalize("NFKC", s).casefold()}: how glossary terms and text are compared. */
    public static String normalize(String s) {
        return casefold(Normalizer.normalize(s, Normalizer.Form.NFKC));
    }

    /** {@code s.strip()}: Python's whitespace, not Java's. */
    public static String strip(String s) {
        int start = 0, end = s.length();
        while (start < end) {
            int cp = s.codePointAt(start);
            if (!isSpace(cp)) break;
            start += Character.charCount(cp);
        }
        while (end > start) {
            int cp = s.codePointBefore(end);
            if (!isSpace(cp)) break;
            end -= Character.charCount(cp);
        }
        return s.substring(start, end);
    }

    /** Python's {@code len(s)}: code points. */
    public static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** Python's {@code s[:n]} for n >= 0: the first n code points. */
    public static String head(String s, int n) {
        if (n >= length(s)) return s;
        return s.substring(0, s.offsetByCodePoints(0, n));
    }

    /** Python's {@code repr(s)} for a str: the quote it picks, its escapes, non-printables as \x, \\u, \U. */
    public static String repr(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder(s.length() + 2).append(quote);
        s.codePoints().forEach(cp -> {
            if (cp == quote || cp == '\\') out.append('\\').appendCodePoint(cp);
            else if (cp == '\t') out.append("\\t");
            else if (cp == '\n') out.append("\\n");
            else if (cp == '\r') out.append("\\r");
            else if (cp < ' ' || cp == 0x7f) out.append(String.format("\\x%02x", cp));
            else if (cp < 0x7f || isPrintable(cp)) out.appendCodePoint(cp);
            else if (cp <= 0xff) out.append(String.format("\\x%02x", cp));
            else if (cp <= 0xffff) out.append(String.format("\\u%04x", cp));
            else out.append(String.format("\\U%08x", cp));
        });
        return out.append(quote).toString();
    }

    /** Regex {@code [^\W_]+} findall: the maximal runs of isalnum code points. */
    public static List<String> alnumRuns(String s) {
        List<String> out = new ArrayList<>();
        int i = 0, n = s.length();
        while (i < n) {
            int cp = s.codePointAt(i);
            if (!isAlnum(cp)) {
                i += Character.charCount(cp);
                continue;
            }
            int start = i;
            while (i < n && isAlnum(cp = s.codePointAt(i))) i += Character.charCount(cp);
            out.add(s.substring(start, i));
        }
        return out;
    }
}

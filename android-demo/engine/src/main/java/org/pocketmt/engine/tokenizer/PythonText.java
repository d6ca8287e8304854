package org.pocketmt.engine.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Python's {@code str.isalnum}, {@code str.isspace}, {@code str.strip()} and {@code str.split()} on code
 * points. Java's Character classes use another Unicode version and count fewer numerics (Python's
 * isalnum includes every Numeric_Type character), so isalnum comes from a table written from
 * Python itself (python-isalnum.txt); the test compares every code point with Python.
 */
public final class PythonText {
    private static final int[] ALNUM = loadRanges("python-isalnum.txt");
    /** Python's whitespace: bidi classes WS, B, S and category Zs (stable across Unicode versions). */
    private static final int[] SPACE = {0x09, 0x0D, 0x1C, 0x20, 0x85, 0x85, 0xA0, 0xA0, 0x1680, 0x1680,
        0x2000, 0x200A, 0x2028, 0x2029, 0x202F, 0x202F, 0x205F, 0x205F, 0x3000, 0x3000};

    private PythonText() {}

    public static boolean isAlnum(int codePoint) {
        return inRanges(ALNUM, codePoint);
    }

    public static boolean isSpace(int codePoint) {
        return inRanges(SPACE, codePoint);
    }

    /** {@code text.strip()}. */
    public static String strip(String text) {
        int from = 0, to = text.length();
        while (from < to && isSpace(text.codePointAt(from))) {
            from += Character.charCount(text.codePointAt(from));
        }
        while (to > from && isSpace(text.codePointBefore(to))) {
            to -= Character.charCount(text.codePointBefore(to));
        }
        return text.substring(from, to);
    }

    /** {@code " ".join(text.split())}: whitespace runs become one space, none at the ends. */
    public static String squeezeSpaces(String text) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        text.codePoints().forEach(cp -> {
            if (isSpace(cp)) {
                if (word.length() > 0) {
                    words.add(word.toString());
                    word.setLength(0);
                }
            } else {
                word.appendCodePoint(cp);
            }
        });
        if (word.length() > 0) {
            words.add(word.toString());
        }
        return String.join(" ", words);
    }

    /** Sorted inclusive [first, last] pairs: binary search for the last range starting at or before cp. */
    private static boolean inRanges(int[] ranges, int cp) {
        int lo = 0, hi = ranges.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (ranges[2 * mid] > cp) {
                hi = mid - 1;
            } else if (ranges[2 * mid + 1] < cp) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    private static int[] loadRanges(String resource) {
        InputStream in = PythonText.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IllegalStateException("resource " + resource + " is missing from the engine jar");
        }
        int[] out = new int[64];
        int n = 0;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                line = line.trim();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                int dash = line.indexOf('-');
                if (n + 2 > out.length) {
                    out = Arrays.copyOf(out, out.length * 2);
                }
                out[n++] = Integer.parseInt(line.substring(0, dash), 16);
                out[n++] = Integer.parseInt(line.substring(dash + 1), 16);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Arrays.copyOf(out, n);
    }
}

package org.pocketmt.engine.search;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.pocketmt.engine.glossary.PyText;

/**
 * Fitting long inputs into the bundle's max source length without losing text (docs/decoding.md, section 1):
 * the Java twin of {@code runtime/segment.py}.
 */
public final class Segmenter {
    private Segmenter() {}

    /** The pieces of one text: source ids (each ending in EOS), their texts (null for a cut chunk), warnings. */
    public static final class Segments {
        public final List<int[]> pieces = new ArrayList<>();
        public final List<String> texts = new ArrayList<>();
        public final List<String> warnings = new ArrayList<>();
    }

    private static boolean endsSentence(int cp) {
        return cp == '.' || cp == '!' || cp == '?' || cp == 0x2026 || cp == 0x3002 || cp == 0xff01 || cp == 0xff1f;
    }

    /**
     * Python's {@code re.split(r"(?<=[.!?\u2026\u3002\uff01\uff1f])\s+", text)} without the empty strings:
     * split at every run of Python whitespace ({@code str.isspace}) that follows sentence-final punctuation.
     */
    public static List<String> splitSentences(String text) {
        List<String> out = new ArrayList<>();
        int from = 0, i = 0, n = text.length();
        while (i < n) {
            int cp = text.codePointAt(i);
            if (i > 0 && PyText.isSpace(cp) && endsSentence(text.codePointBefore(i))) {
                int end = i;
                while (end < n && PyText.isSpace(text.codePointAt(end))) end += Character.charCount(text.codePointAt(end));
                if (i > from) out.add(text.substring(from, i));
                from = end;
                i = end;
                continue;
            }
            i += Character.charCount(cp);
        }
        if (n > from) out.add(text.substring(from));
        return out;
    }

    public static Segments segment(String text, Function<String, int[]> encode, int maxLen, int eosId) {
        int[] ids = encode.apply(text);
        Segments out = new Segments();
        if (ids.length <= maxLen) {
            out.pieces.add(ids);
            out.texts.add(text);
            return out;
        }
        String current = "";
        for (String sentence : splitSentences(text)) {
            String candidate = current.isEmpty() ? sentence : current + " " + sentence;
            if (encode.apply(candidate).length <= maxLen) {
                current = candidate;
                continue;
            }
            if (!current.isEmpty()) {
                out.pieces.add(encode.apply(current));
                out.texts.add(current);
            }
            current = "";
            int[] sentenceIds = encode.apply(sentence);
            if (sentenceIds.length <= maxLen) {
                current = sentence;
                continue;
            }
            int body = sentenceIds.length - 1;
            int width = maxLen - 1;
            if (width < 1) throw new IllegalArgumentException("range() arg 3 must not be zero"); // Python's error at maxLen 1
            int chunks = 0;
            for (int i = 0; i < body; i += width) {
                int end = Math.min(body, i + width);
                int[] chunk = new int[end - i + 1];
                System.arraycopy(sentenceIds, i, chunk, 0, end - i);
                chunk[end - i] = eosId;
                out.pieces.add(chunk);
                out.texts.add(null);
                chunks++;
            }
            String preview = PyText.length(sentence) <= 40 ? sentence : PyText.head(sentence, 37) + "...";
            out.warnings.add("sentence of " + sentenceIds.length + " tokens exceeds the max source length " + maxLen
                    + "; cut into " + chunks + " pieces: " + PyText.repr(preview));
        }
        if (!current.isEmpty()) {
            out.pieces.add(encode.apply(current));
            out.texts.add(current);
        }
        return out;
    }
}

package org.pocketmt.engine.tokenizer;

/** UTF-8 rules as SentencePiece's string_util applies them (not Java's decoder, which differs on errors). */
final class Utf8 {
    /** U+FFFD, which SentencePiece writes for each byte it cannot decode. */
    static final byte[] REPLACEMENT = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};

    private Utf8() {}

    /** Length of the character starting at {@code b[i]} judged by its lead byte only (string_util::OneCharLen). */
    static int oneCharLen(byte[] b, int i) {
        int hi = (b[i] & 0xFF) >>> 4;
        return hi < 12 ? 1 : hi < 14 ? 2 : hi == 14 ? 3 : 4;
    }

    /**
     * Length of the well-formed character at {@code b[from]} (before {@code to}), or -1 when the bytes
     * there are not one: a stray trail byte, a truncated or overlong sequence, a surrogate or a value
     * past U+10FFFF. SentencePiece then consumes a single byte.
     */
    static int validCharLen(byte[] b, int from, int to) {
        int len = to - from;
        int b0 = b[from] & 0xFF;
        if (b0 < 0x80) {
            return 1;
        }
        if (len >= 2 && (b0 & 0xE0) == 0xC0) {
            int cp = (b0 & 0x1F) << 6 | (b[from + 1] & 0x3F);
            if (isTrail(b[from + 1]) && cp >= 0x80) {
                return 2;
            }
        } else if (len >= 3 && (b0 & 0xF0) == 0xE0) {
            int cp = (b0 & 0x0F) << 12 | (b[from + 1] & 0x3F) << 6 | (b[from + 2] & 0x3F);
            if (isTrail(b[from + 1]) && isTrail(b[from + 2]) && cp >= 0x800 && isScalar(cp)) {
                return 3;
            }
        } else if (len >= 4 && (b0 & 0xF8) == 0xF0) {
            int cp = (b0 & 0x07) << 18 | (b[from + 1] & 0x3F) << 12 | (b[from + 2] & 0x3F) << 6 | (b[from + 3] & 0x3F);
            if (isTrail(b[from + 1]) && isTrail(b[from + 2]) && isTrail(b[from + 3]) && cp >= 0x10000 && isScalar(cp)) {
                return 4;
            }
        }
        return -1;
    }

    private static boolean isTrail(byte x) {
        return (x & 0xC0) == 0x80;
    }

    private static boolean isScalar(int cp) {
        return cp < 0xD800 || (cp >= 0xE000 && cp <= 0x10FFFF);
    }
}

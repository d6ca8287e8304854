package org.pocketmt.engine.glossary;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JSON reader as strict as Python's {@code json.loads} and with its error messages ({@code exc.msg}), which
 * the glossary errors quote. (Android's org.json is lenient: it accepts trailing text, single quotes and
 * unquoted names, so a JSON-lines file would parse as one list where Python reads it line by line.)
 * Values: {@link List}, {@link Map} (insertion-ordered), {@link String}, {@link Double} or {@link Long},
 * {@link Boolean}, and {@link #NULL}. As in Python, a string may hold a lone surrogate (half of a pair escaped
 * alone); the glossary reader refuses such a term.
 *
 * <p>It also fails where {@code json.loads} fails without a {@code JSONDecodeError} ({@link Error#kind}):
 * arrays and objects nested deeper than {@link #MAX_DEPTH} ({@code RecursionError}), and integers of more than
 * {@link #MAX_INT_DIGITS} digits ({@code ValueError}), at the same place in the text.
 */
final class PyJson {
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /**
     * The deepest nesting read. Python's C scanner spends one level of the interpreter's recursion limit (1000)
     * per array or object, on top of the frames already on the stack, so its limit depends on the caller:
     * through {@code pocketmt translate --glossary} (five frames down to {@code json.loads}) 991 levels load
     * and 992 raise {@code RecursionError}. The Java engine takes that command's limit.
     */
    static final int MAX_DEPTH = 991;

    /** {@code sys.get_int_max_str_digits()}'s default: a longer integer literal is a {@code ValueError}. */
    static final int MAX_INT_DIGITS = 4300;

    /** How {@code json.loads} failed. */
    enum Kind {
        /** {@code JSONDecodeError}; the message is its {@code msg}. */
        INVALID,
        /** {@code RecursionError}: nested deeper than {@link #MAX_DEPTH}. */
        TOO_DEEP,
        /** {@code ValueError} from converting an integer of more than {@link #MAX_INT_DIGITS} digits; the message
         * is Python's up to its first ':'. */
        TOO_LONG
    }

    static final class Error extends Exception {
        private static final long serialVersionUID = 1L;
        final Kind kind;

        Error(String msg) {
            this(Kind.INVALID, msg);
        }

        Error(Kind kind, String msg) {
            super(msg);
            this.kind = kind;
        }
    }

    private final String s;
    private int i;
    private int depth; // arrays and objects open around the current position

    private PyJson(String s) {
        this.s = s;
    }

    static Object loads(String text) throws Error {
        PyJson p = new PyJson(text);
        p.skipWhitespace();
        Object value = p.value();
        p.skipWhitespace();
        if (p.i != text.length()) throw new Error("Extra data");
        return value;
    }

    private void skipWhitespace() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            i++;
        }
    }

    private boolean startsWith(String word) {
        return s.startsWith(word, i);
    }

    private Object value() throws Error {
        if (i >= s.length()) throw new Error("Expecting value");
        char c = s.charAt(i);
        switch (c) {
            case '"':
                return string();
            case '{':
            case '[': {
                if (depth == MAX_DEPTH) throw new Error(Kind.TOO_DEEP, "maximum recursion depth exceeded while decoding a JSON document");
                depth++;
                Object out = c == '{' ? object() : array();
                depth--;
                return out;
            }
            default:
                break;
        }
        if (startsWith("null")) { i += 4; return NULL; }
        if (startsWith("true")) { i += 4; return Boolean.TRUE; }
        if (startsWith("false")) { i += 5; return Boolean.FALSE; }
        if (startsWith("NaN")) { i += 3; return Double.NaN; }
        if (startsWith("Infinity")) { i += 8; return Double.POSITIVE_INFINITY; }
        if (startsWith("-Infinity")) { i += 9; return Double.NEGATIVE_INFINITY; }
        return number();
    }

    private boolean digitAt(int at) {
        return at < s.length() && s.charAt(at) >= '0' && s.charAt(at) <= '9';
    }

    private Object number() throws Error {
        int start = i, at = i;
        if (at < s.length() && s.charAt(at) == '-') at++;
        if (at < s.length() && s.charAt(at) >= '1' && s.charAt(at) <= '9') {
            while (digitAt(at)) at++;
        } else if (at < s.length() && s.charAt(at) == '0') {
            at++;
        } else {
            throw new Error("Expecting value");
        }
        boolean integer = true;
        if (at < s.length() && s.charAt(at) == '.' && digitAt(at + 1)) {
            integer = false;
            at++;
            while (digitAt(at)) at++;
        }
        if (at < s.length() && (s.charAt(at) == 'e' || s.charAt(at) == 'E')) {
            int e = at + 1;
            if (e < s.length() && (s.charAt(e) == '+' || s.charAt(e) == '-')) e++;
            if (digitAt(e)) {
                integer = false;
                while (digitAt(e)) e++;
                at = e;
            }
        }
        i = at;
        String text = s.substring(start, at);
        int digits = text.length() - (text.charAt(0) == '-' ? 1 : 0);
        if (integer && digits > MAX_INT_DIGITS) {
            throw new Error(Kind.TOO_LONG, "Exceeds the limit (" + MAX_INT_DIGITS + " digits) for integer string conversion");
        }
        if (integer) {
            try {
                return Long.parseLong(text);
            } catch (NumberFormatException big) {
                return Double.parseDouble(text); // Python would keep an exact big int; only its type matters here
            }
        }
        return Double.parseDouble(text);
    }

    private String string() throws Error {
        int begin = i;
        i++; // the opening quote
        StringBuilder out = new StringBuilder();
        while (true) {
            if (i >= s.length()) throw new Error("Unterminated string starting at");
            char c = s.charAt(i++);
            if (c == '"') return out.toString();
            if (c == '\\') {
                if (i >= s.length()) throw new Error("Unterminated string starting at");
                char e = s.charAt(i++);
                switch (e) {
                    case '"': out.append('"'); break;
                    case '\\': out.append('\\'); break;
                    case '/': out.append('/'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'n': out.append('\n'); break;
                    case 'r': out.append('\r'); break;
                    case 't': out.append('\t'); break;
                    case 'u': out.append(unicodeEscape()); break;
                    default: throw new Error("Invalid \\escape");
                }
            } else if (c <= 0x1f) {
                throw new Error("Invalid control character at");
            } else {
                out.append(c);
            }
        }
    }

    private char unicodeEscape() throws Error {
        if (i + 4 > s.length()) throw new Error("Invalid \\uXXXX escape");
        int v = 0;
        for (int k = 0; k < 4; k++) {
            int d = Character.digit(s.charAt(i + k), 16);
            if (d < 0 || s.charAt(i + k) > 'f') throw new Error("Invalid \\uXXXX escape");
            v = v * 16 + d;
        }
        i += 4;
        return (char) v; // a surrogate pair arrives as two escapes, which Java's UTF-16 joins by itself
    }

    private Map<String, Object> object() throws Error {
        i++;
        Map<String, Object> out = new LinkedHashMap<>();
        skipWhitespace();
        if (i < s.length() && s.charAt(i) == '}') {
            i++;
            return out;
        }
        while (true) {
            if (i >= s.length() || s.charAt(i) != '"') throw new Error("Expecting property name enclosed in double quotes");
            String key = string();
            skipWhitespace();
            if (i >= s.length() || s.charAt(i) != ':') throw new Error("Expecting ':' delimiter");
            i++;
            skipWhitespace();
            out.put(key, value());
            skipWhitespace();
            if (i < s.length() && s.charAt(i) == '}') {
                i++;
                return out;
            }
            if (i >= s.length() || s.charAt(i) != ',') throw new Error("Expecting ',' delimiter");
            i++;
            skipWhitespace();
        }
    }

    private List<Object> array() throws Error {
        i++;
        List<Object> out = new ArrayList<>();
        skipWhitespace();
        if (i < s.length() && s.charAt(i) == ']') {
            i++;
            return out;
        }
        while (true) {
            out.add(value());
            skipWhitespace();
            if (i < s.length() && s.charAt(i) == ']') {
                i++;
                return out;
            }
            if (i >= s.length() || s.charAt(i) != ',') throw new Error("Expecting ',' delimiter");
            i++;
            skipWhitespace();
        }
    }
}

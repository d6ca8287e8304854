package org.pocketmt.engine.bundle;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * The structure of a JSON text, checked in one pass without recursion before org.json reads it:
 * org.json recurses (a deeply nested document overflows the stack) and keeps one of two duplicate keys
 * without a word, where another reader (the Python runtime) might take the other. The same rules as
 * {@code runtime/manifest.py}'s {@code load_json}. Syntax errors are left to org.json.
 */
final class JsonStructure {
    private static final Object ARRAY = new Object();

    private JsonStructure() {}

    /** Why {@code text} is refused (nesting deeper than {@code maxNesting}, a duplicate key), or null. */
    static String problem(String text, int maxNesting) {
        Deque<Object> open = new ArrayDeque<>();  // a Set of keys per open object, ARRAY per open array
        boolean expectKey = false;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c == '"') {
                StringBuilder s = new StringBuilder();
                i = readString(text, i + 1, s);
                if (expectKey && !open.isEmpty() && open.peek() != ARRAY) {
                    @SuppressWarnings("unchecked")
                    Set<String> keys = (Set<String>) open.peek();
                    if (!keys.add(s.toString())) {
                        return "duplicate key " + FileNames.quoted(s.toString());
                    }
                }
                expectKey = false;
                continue;
            }
            switch (c) {
                case '{':
                case '[':
                    if (open.size() >= maxNesting) {
                        return "nested deeper than " + maxNesting + " levels";
                    }
                    open.push(c == '{' ? new HashSet<String>() : ARRAY);
                    expectKey = c == '{';
                    break;
                case '}':
                case ']':
                    if (!open.isEmpty()) {
                        open.pop();
                    }
                    expectKey = false;
                    break;
                case ',':
                    expectKey = !open.isEmpty() && open.peek() != ARRAY;
                    break;
                case ':':
                    expectKey = false;
                    break;
                default:
                    break;
            }
        }
        return null;
    }

    /** Decode the string whose contents start at {@code i}; the index of its closing quote. */
    private static int readString(String text, int i, StringBuilder out) {
        int n = text.length();
        while (i < n) {
            char c = text.charAt(i);
            if (c == '"') {
                return i;
            }
            if (c == '\\' && i + 1 < n) {
                char e = text.charAt(++i);
                switch (e) {
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'n': out.append('\n'); break;
                    case 'r': out.append('\r'); break;
                    case 't': out.append('\t'); break;
                    case 'u':
                        if (i + 4 < n) {
                            try {
                                out.append((char) Integer.parseInt(text.substring(i + 1, i + 5), 16));
                                i += 4;
                                break;
                            } catch (NumberFormatException ignored) {
                                // malformed: org.json reports it
                            }
                        }
                        out.append(e);
                        break;
                    default: out.append(e); break;
                }
            } else {
                out.append(c);
            }
            i++;
        }
        return n;
    }
}

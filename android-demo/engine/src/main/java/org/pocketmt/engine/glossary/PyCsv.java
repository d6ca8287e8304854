package org.pocketmt.engine.glossary;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's {@code csv.reader(io.StringIO(text), delimiter=d)} with the default (excel) dialect: double quotes,
 * doubled quotes inside them, no escape character, not strict, and the module's default field size limit
 * ({@code csv.field_size_limit()}: 131072 code points). The input is cut into lines at '\n' only (as StringIO
 * iterates), and every record, blank ones included (as an empty row), is returned: the glossary reader numbers
 * records as Python's {@code enumerate} over the reader does, and an error by the reader's {@code line_num}.
 */
final class PyCsv {
    private PyCsv() {}

    static final class Error extends Exception {
        private static final long serialVersionUID = 1L;

        Error(String msg) {
            super(msg);
        }
    }

    private enum State { START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED_FIELD, QUOTE_IN_QUOTED_FIELD, EAT_CRNL }

    private static final int EOL = -2;

    /** {@code csv.field_size_limit()}'s default: a field may hold this many code points, not one more. */
    static final int FIELD_LIMIT = 131072;

    /** The records up to the first that errs, and that error (null if none): Python raises when it gets there. */
    static final class Records {
        final List<List<String>> rows = new ArrayList<>();
        String error;
        /** The reader's {@code line_num} when it raised: the lines read so far, the one that erred included. */
        int errorLine;
    }

    /** The field being read; its length counts code points, as Python's csv module does. */
    private static final class Field {
        final StringBuilder text = new StringBuilder();
        int codePoints;

        void add(int c) throws Error {
            char ch = (char) c;
            boolean low = Character.isLowSurrogate(ch) && text.length() > 0
                    && Character.isHighSurrogate(text.charAt(text.length() - 1));
            if (!low) { // the second half of a pair is the same code point
                if (codePoints >= FIELD_LIMIT) throw new Error("field larger than field limit (" + FIELD_LIMIT + ")");
                codePoints++;
            }
            text.append(ch);
        }

        boolean isEmpty() {
            return text.length() == 0;
        }

        String take() {
            String out = text.toString();
            text.setLength(0);
            codePoints = 0;
            return out;
        }
    }

    static Records read(String text, char delimiter) {
        Records out = new Records();
        List<List<String>> rows = out.rows;
        List<String> fields = new ArrayList<>();
        Field field = new Field();
        State state = State.START_RECORD;
        int pos = 0, lineNum = 0;
        while (pos < text.length()) {
            int end = text.indexOf('\n', pos);
            end = end < 0 ? text.length() : end + 1;
            String line = text.substring(pos, end);
            pos = end;
            lineNum++;
            for (int k = 0; k <= line.length(); k++) {
                int c = k < line.length() ? line.charAt(k) : EOL;
                try {
                    state = step(state, c, delimiter, fields, field);
                } catch (Error e) {
                    out.error = e.getMessage();
                    out.errorLine = lineNum;
                    return out;
                }
            }
            if (state == State.START_RECORD) {
                rows.add(fields);
                fields = new ArrayList<>();
            }
        }
        if (state == State.IN_QUOTED_FIELD || !field.isEmpty()) { // end of input inside a record
            fields.add(field.take());
            rows.add(fields);
        }
        return out;
    }

    private static State saveField(List<String> fields, Field field, int c) {
        fields.add(field.take());
        return c == EOL ? State.START_RECORD : State.EAT_CRNL;
    }

    @SuppressWarnings("fallthrough")
    private static State step(State state, int c, char delimiter, List<String> fields, Field field) throws Error {
        boolean newline = c == '\n' || c == '\r';
        switch (state) {
            case START_RECORD:
                if (c == EOL) return State.START_RECORD; // an empty line: an empty record
                if (newline) return State.EAT_CRNL;
                // a normal character: as at the start of a field
            case START_FIELD:
                if (newline || c == EOL) return saveField(fields, field, c);
                if (c == '"') return State.IN_QUOTED_FIELD;
                if (c == delimiter) {
                    fields.add(field.take());
                    return State.START_FIELD;
                }
                field.add(c);
                return State.IN_FIELD;
            case IN_FIELD:
                if (newline || c == EOL) return saveField(fields, field, c);
                if (c == delimiter) {
                    fields.add(field.take());
                    return State.START_FIELD;
                }
                field.add(c);
                return State.IN_FIELD;
            case IN_QUOTED_FIELD:
                if (c == EOL) return State.IN_QUOTED_FIELD;
                if (c == '"') return State.QUOTE_IN_QUOTED_FIELD;
                field.add(c);
                return State.IN_QUOTED_FIELD;
            case QUOTE_IN_QUOTED_FIELD:
                if (c == '"') {
                    field.add('"');
                    return State.IN_QUOTED_FIELD;
                }
                if (c == delimiter) {
                    fields.add(field.take());
                    return State.START_FIELD;
                }
                if (newline || c == EOL) return saveField(fields, field, c);
                field.add(c); // not strict: a character after the closing quote joins the field
                return State.IN_FIELD;
            case EAT_CRNL:
                if (newline) return State.EAT_CRNL;
                if (c == EOL) return State.START_RECORD;
                throw new Error("new-line character seen in unquoted field - do you need to open the file in universal-newline mode?");
            default:
                throw new IllegalStateException(state.toString());
        }
    }
}

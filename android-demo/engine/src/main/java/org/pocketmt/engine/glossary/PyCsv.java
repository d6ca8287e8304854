package org.pocketmt.engine.glossary;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's {@code csv.reader(io.StringIO(text), delimiter=d)} with the default (excel) dialect: double quotes,
 * doubled quotes inside them, no escape character, not strict. The input is cut into lines at '\n' only (as
 * StringIO iterates), and every record, blank ones included (as an empty row), is returned: the glossary
 * reader numbers errors by record, as Python's {@code enumerate} over the reader does.
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

    /** The records up to the first that errs, and that error (null if none): Python raises when it gets there. */
    static final class Records {
        final List<List<String>> rows = new ArrayList<>();
        String error;
    }

    static Records read(String text, char delimiter) {
        Records out = new Records();
        List<List<String>> rows = out.rows;
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        State state = State.START_RECORD;
        int pos = 0;
        while (pos < text.length()) {
            int end = text.indexOf('\n', pos);
            end = end < 0 ? text.length() : end + 1;
            String line = text.substring(pos, end);
            pos = end;
            for (int k = 0; k <= line.length(); k++) {
                int c = k < line.length() ? line.charAt(k) : EOL;
                try {
                    state = step(state, c, delimiter, fields, field);
                } catch (Error e) {
                    out.error = e.getMessage();
                    return out;
                }
            }
            if (state == State.START_RECORD) {
                rows.add(fields);
                fields = new ArrayList<>();
            }
        }
        if (state == State.IN_QUOTED_FIELD || field.length() != 0) { // end of input inside a record
            fields.add(field.toString());
            rows.add(fields);
        }
        return out;
    }

    private static State saveField(List<String> fields, StringBuilder field, int c) {
        fields.add(field.toString());
        field.setLength(0);
        return c == EOL ? State.START_RECORD : State.EAT_CRNL;
    }

    @SuppressWarnings("fallthrough")
    private static State step(State state, int c, char delimiter, List<String> fields, StringBuilder field) throws Error {
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
                    fields.add(field.toString());
                    field.setLength(0);
                    return State.START_FIELD;
                }
                field.append((char) c);
                return State.IN_FIELD;
            case IN_FIELD:
                if (newline || c == EOL) return saveField(fields, field, c);
                if (c == delimiter) {
                    fields.add(field.toString());
                    field.setLength(0);
                    return State.START_FIELD;
                }
                field.append((char) c);
                return State.IN_FIELD;
            case IN_QUOTED_FIELD:
                if (c == EOL) return State.IN_QUOTED_FIELD;
                if (c == '"') return State.QUOTE_IN_QUOTED_FIELD;
                field.append((char) c);
                return State.IN_QUOTED_FIELD;
            case QUOTE_IN_QUOTED_FIELD:
                if (c == '"') {
                    field.append('"');
                    return State.IN_QUOTED_FIELD;
                }
                if (c == delimiter) {
                    fields.add(field.toString());
                    field.setLength(0);
                    return State.START_FIELD;
                }
                if (newline || c == EOL) return saveField(fields, field, c);
                field.append((char) c); // not strict: a character after the closing quote joins the field
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

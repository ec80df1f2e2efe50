package io.durablemq.bench.load;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** An option value named on the command line by a short id ({@code --pacing threads}, {@code --phase staggered}, ...). */
interface OptionId {
    String id();

    /**
     * The constant of {@code values} whose id is {@code text} (case and surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the option ({@code what}), the bad value and the ids allowed
     */
    static <E extends Enum<E> & OptionId> E parse(E[] values, String text, String what) {
        String key = text.trim().toLowerCase(Locale.ROOT);
        for (E e : values) {
            if (e.id().equals(key)) {
                return e;
            }
        }
        String allowed = Arrays.stream(values).map(OptionId::id).collect(Collectors.joining(" or "));
        throw new IllegalArgumentException("unknown " + what + " '" + text + "': use " + allowed);
    }
}

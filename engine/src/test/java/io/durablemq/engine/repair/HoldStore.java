package io.durablemq.engine.repair;

import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;

import java.nio.file.Path;

/** Child process for {@code StoreRepairTest}: holds a store open (as a broker would) until its stdin closes. */
public final class HoldStore {
    public static void main(String[] args) throws Exception {
        try (Store store = Store.open(Path.of(args[0]), Durability.FSYNC)) {
            System.out.println("OPEN");
            System.out.flush();
            while (System.in.read() >= 0) {
                // wait for the parent to close our stdin
            }
        }
    }
}

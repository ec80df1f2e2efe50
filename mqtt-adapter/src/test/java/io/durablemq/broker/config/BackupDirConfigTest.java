package io.durablemq.broker.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code backup_dir}: next to the data folder by default, resolved like other paths, never inside the store. */
class BackupDirConfigTest {
    @TempDir
    Path dir;

    private Path write(String... lines) throws Exception {
        Path f = dir.resolve("broker.conf");
        Files.write(f, List.of(lines));
        return f;
    }

    @Test
    void defaultIsASiblingOfTheDataFolderAndFollowsIt() throws Exception {
        assertEquals(Path.of("data-backups"), BrokerConfig.defaults().backupDir());
        BrokerConfig fromFile = BrokerConfig.load(write("data_path /var/lib/durablemq"));
        assertEquals(Path.of("/var/lib/durablemq-backups"), fromFile.backupDir());
        BrokerConfig moved = BrokerConfig.defaults().toBuilder().dataPath(Path.of("/srv/mq/store")).build();
        assertEquals(Path.of("/srv/mq/store-backups"), moved.backupDir(), "the default moves with data_path");
    }

    @Test
    void explicitBackupDirResolvesAgainstTheConfigFolderAndIsKept() throws Exception {
        BrokerConfig c = BrokerConfig.load(write("data_path store", "backup_dir /mnt/backups/mq"));
        assertEquals(Path.of("/mnt/backups/mq"), c.backupDir());
        BrokerConfig relative = BrokerConfig.load(write("backup_dir snapshots"));
        assertEquals(dir.toAbsolutePath().normalize().resolve("snapshots"), relative.backupDir());
        BrokerConfig moved = c.toBuilder().dataPath(Path.of("/elsewhere")).build();
        assertEquals(Path.of("/mnt/backups/mq"), moved.backupDir(), "an explicit backup_dir stays");
    }

    @Test
    void backupDirInsideTheDataFolderIsAnErrorNamingTheKey() throws Exception {
        Path f = write("data_path store", "backup_dir store/backups");
        String msg = assertThrows(BrokerConfigException.class, () -> BrokerConfig.load(f)).getMessage();
        assertTrue(msg.startsWith(f.toAbsolutePath().normalize() + ":2: backup_dir: "), msg);
        assertTrue(msg.contains("is inside data_path"), msg);
        Path same = write("data_path store", "backup_dir ./store");
        assertThrows(BrokerConfigException.class, () -> BrokerConfig.load(same));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BrokerConfig.defaults()
                .toBuilder().dataPath(Path.of("/d")).backupDir(Path.of("/d/b")).build());
        assertTrue(e.getMessage().startsWith("backup_dir /d/b is inside data_path /d"), e.getMessage());
    }
}

package io.durablemq.broker.config;

import io.moquette.broker.config.IConfig;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;

/**
 * Instantiates Moquette plugins (authenticators, authorizators, interceptors) named in the
 * config file, with Moquette's constructor conventions: a public constructor taking
 * {@link IConfig} is preferred, else a public no-argument one.
 */
public final class PluginLoader {

    private PluginLoader() {
    }

    /**
     * @param key       the config key naming the class, for error messages
     * @param className fully qualified class name
     * @param type      the Moquette interface the class must implement
     * @param config    handed to an (IConfig) constructor
     */
    public static <T> T load(String key, String className, Class<T> type, BrokerConfig config)
            throws BrokerConfigException {
        String where = (config.configFile() == null ? "" : config.configFile() + ": ") + key + ": ";
        Class<?> cls;
        try {
            cls = Class.forName(className, true, Thread.currentThread().getContextClassLoader() != null
                    ? Thread.currentThread().getContextClassLoader() : PluginLoader.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new BrokerConfigException(where + "class " + className + " not found on the class path "
                    + "(put its jar next to the broker jar and add it to the class path)", e);
        } catch (LinkageError e) {
            throw new BrokerConfigException(where + "class " + className + " cannot be loaded: " + e, e);
        }
        if (!type.isAssignableFrom(cls)) {
            throw new BrokerConfigException(where + "class " + className + " does not implement " + type.getName());
        }
        Class<? extends T> implementation = cls.asSubclass(type);
        try {
            Constructor<? extends T> withConfig = implementation.getConstructor(IConfig.class);
            return withConfig.newInstance(config.toMoquetteConfig());
        } catch (NoSuchMethodException e) {
            // fall through to the no-argument constructor, as Moquette does
        } catch (InvocationTargetException e) {
            throw failed(where, className, e.getCause());
        } catch (ReflectiveOperationException e) {
            throw failed(where, className, e);
        }
        try {
            return implementation.getConstructor().newInstance();
        } catch (NoSuchMethodException e) {
            throw new BrokerConfigException(where + "class " + className
                    + " has neither a public (IConfig) nor a public no-argument constructor", e);
        } catch (InvocationTargetException e) {
            throw failed(where, className, e.getCause());
        } catch (ReflectiveOperationException e) {
            throw failed(where, className, e);
        }
    }

    private static BrokerConfigException failed(String where, String className, Throwable cause) {
        return new BrokerConfigException(where + "constructing " + className + " failed: " + cause, cause);
    }
}

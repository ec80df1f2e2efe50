# Sourced by compare.sh and fixed-rate-mosquitto.sh: the Mosquitto configuration every comparison uses.
# mosquitto_conf PORT DATA_DIR prints it. Persistence on (default autosave: every 30 minutes and at
# exit, not per message); queue and in-flight limits raised to match DurableMQ's defaults so no run is
# cut short by Mosquitto's silent drop at 1,000 queued messages; TCP_NODELAY on as in its best setup;
# as root it stays root (else it drops to the mosquitto user, who cannot write DATA_DIR).
mosquitto_conf() {
  cat <<C
listener $1 127.0.0.1
allow_anonymous true
persistence true
persistence_location $2/
max_queued_messages 1000000
max_inflight_messages 1000
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
C
  if [[ "$(id -u)" == "0" ]]; then echo "user root"; fi
}

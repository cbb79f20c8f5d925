# What the help names is what `settings set` takes (issue 19, item 12): every dotted setting
# name in `vmspki help component renew` (and the lifecycle's help) is accepted by `settings
# get` and `settings set`, and component.renew_days changes the component renewal window.
. "$(dirname "$0")/lib.bash"
it_init jq
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="settings named test passphrase"
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"

for topic in "component renew" "lifecycle" "https enable"; do
	# shellcheck disable=SC2086
	vp - help $topic
	names=$(tr '\n' ' ' <"$VP_OUT" | grep -oE "\b(device|lifecycle|component|task|engine|alarm|endpoint)\.[a-z_]+" | sort -u)
	check "\`vmspki help $topic\` names a setting" test -n "$names"
	for name in $names; do
		vp "$D" settings get "$name"
		assert_rc 0 "\`help $topic\` names $name: settings get takes it"
		v=$(tr -d '\n' <"$VP_OUT")
		vp "$D" settings set "$name" "$v"
		assert_rc 0 "... and settings set takes it ($name = $v)"
	done
done

vp "$D" settings set component.renew_days 45
assert_rc 0 "component.renew_days 45 is taken"
vp "$D" settings set component.renew_days nope
assert_rc 1 "component.renew_days nope is refused"
vp "$D" settings get component.renew_days
is "$(tr -d '\n' <"$VP_OUT")" 45 "... and the value stays"
it_done
